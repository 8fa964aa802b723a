/** `stratum build|plan|watch --help`: each command's own usage (the store commands keep theirs). */
const COMMON = `  -f, --file PATH          Dockerfile (default: CONTEXT/Dockerfile); - reads it from stdin
      --target STAGE       build this stage and what it needs
      --build-arg K=V      set a build argument (repeatable)
      --no-cache           rebuild every step
      --platform OS/ARCH   the platform to build for (default: this machine's)
      --executor KIND      sandbox (default) | host
  -j, --jobs N             stages built at once at most
      --env-pass NAME      a host variable a RUN may see (repeatable)
      --secret id=ID,src=FILE|env=VAR
                           a secret for RUN --mount=type=secret (repeatable)
      --ssh default|ID=SOCKET
                           an ssh agent for RUN --mount=type=ssh (default: $SSH_AUTH_SOCK)
      --pull               ask the registry again for images already in the store
      --insecure-registry HOST
                           reach HOST over plain http (loopback registries always are)
      --cache-dir DIR      the store (default: $STRATUM_CACHE_DIR, $XDG_CACHE_HOME/stratum, ~/.cache/stratum)
  -h, --help               show this help`;

const OUTPUTS = `  -t, --tag NAME[:TAG]     store the result as a tagged image (repeatable)
  -o, --output SPEC        type=local,dest=DIR (or just DIR) | type=oci,dest=FILE.tar|DIR[,tar=false]
                           | type=docker,dest=FILE.tar | type=registry,name=REF; repeatable
      --push               push the -t names to their registries
      --cache-to SPEC      type=registry,ref=REF[,mode=min|max][,cache-mounts=true]
                           | type=local,dest=DIR: export the step cache
      --cache-from SPEC    type=registry,ref=REF | type=local,src=DIR: use an exported cache
                           (repeatable; read lazily, errors are warnings)`;

export const BUILD_HELP = `Usage: stratum build [options] [CONTEXT]

Build the Dockerfile in CONTEXT (default .), every step cached by content.

${OUTPUTS}
      --progress MODE      auto | plain | json | tty  (auto: tty on a terminal outside CI, else plain)
      --metadata-file FILE write the result (image, tags, outputs, hits, misses) as JSON
${COMMON}

In GitHub Actions a markdown summary is appended to $GITHUB_STEP_SUMMARY (docs/ci.md).
Exit codes: 0 success, 1 a step failed, 2 bad usage or Dockerfile, 3 store or I/O, 130 interrupted.`;

export const PLAN_HELP = `Usage: stratum plan [options] [CONTEXT]

Show what a build would do, step by step, and which steps would hit the cache; runs nothing.

      --format FORMAT      text (default) | json
${OUTPUTS}
${COMMON}`;

export const WATCH_HELP = `Usage: stratum watch [options] [CONTEXT]

Build, then rebuild on every change to the context or the Dockerfile, from the first step
whose key changed; outputs are published only by a finished build.

      --debounce MS        quiet time after a change before rebuilding (default 40)
      --run                run the image as a container, replaced after each good build
                           (with -p, -v, -e, --name, --network as in docker run)
      --progress MODE      auto | plain | json | tty
${OUTPUTS}
${COMMON}

Keys (terminal UI):
  q, Ctrl-C   quit
  r           rebuild now (steps whose keys are unchanged still hit)
  f           force: rebuild every step
  l           open or close the failed step's full log; in it ↑/↓ (k/j) a line,
              PgUp/PgDn (b/space) a page, g/G the ends`;

export const COMMAND_HELP: Record<string, string> = { build: BUILD_HELP, plan: PLAN_HELP, watch: WATCH_HELP };
