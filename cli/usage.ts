/** Usage text and usage errors (exit code 2). */
export { usageError } from '../engine/errors.js';

export const USAGE = `stratum — build a Dockerfile into cached, content-addressed layers

Usage:
  stratum build [options] [CONTEXT]      build (CONTEXT defaults to .)
  stratum plan  [options] [CONTEXT]      show what a build would do, and what would hit the cache
  stratum watch [options] [CONTEXT]      rebuild on every change, with a live terminal UI
  stratum bench [options] [CONTEXT]      time cold, warm and incremental builds (stratum bench --help)
  stratum images                         list tagged images
  stratum history IMAGE                  the steps of an image, with layer sizes (--no-trunc, --format json)
  stratum inspect IMAGE...               an image's config, layers and history as JSON
  stratum rmi IMAGE...                   remove image tags (layers stay cached until prune)
  stratum du                             store disk usage: images, layers, blobs, keys, reclaimable
  stratum prune [--keep-storage SIZE] [--until DURATION]   free store space (never a tagged image's layers)
  stratum load ARCHIVE|DIR [-t NAME]     import an OCI layout/archive or a docker-archive
  stratum cache verify                   check every store entry against its digest, remove bad ones
  stratum run [OPTIONS] IMAGE [CMD...]   run a container (stratum run --help); ps, logs, exec, start, restart, stop, rm
  stratum diff CONTAINER                 what a container changed (A/C/D); commit CONTAINER IMAGE makes it a layer
  stratum volume ls|rm|prune             named and anonymous volumes
  stratum pull NAME[:TAG|@DIGEST]        pull an image from a registry into the store (--platform, --insecure-registry)
  stratum push NAME [TARGET]             push an image of the store to a registry (blobs it has are not sent)
  stratum login REGISTRY -u USER --password-stdin   check and save registry credentials (~/.docker/config.json)
  stratum completion bash|zsh|fish       a shell completion script (source <(stratum completion bash))

Every command takes --help (\`stratum build --help\`; \`stratum watch --help\` lists its keys).

Build options:
  -f, --file PATH          Dockerfile (default: CONTEXT/Dockerfile)
  -t, --tag NAME[:TAG]     store the result as a tagged image (repeatable)
      --target STAGE       build this stage and what it needs
      --build-arg K=V      set a build argument (repeatable)
      --no-cache           rebuild every step
  -o, --output SPEC        type=local,dest=DIR (or just DIR); repeatable
                           type=oci,dest=FILE.tar | type=oci,dest=DIR,tar=false (OCI image layout)
                           type=docker,dest=FILE.tar (docker load archive); timestamps: SOURCE_DATE_EPOCH or 0
                           type=registry,name=REGISTRY/REPO:TAG (push the image)
      --push               push the image to every -t name
      --pull               ask the registry for registry bases even when the store has them
      --insecure-registry HOST   plain http:// for HOST (loopback registries always use it); repeatable
      --cache-to SPEC      export the step cache: type=registry,ref=REF[,mode=min|max][,cache-mounts=true] | type=local,dest=DIR
      --cache-from SPEC    look steps up in an exported cache on a local miss (repeatable); same executor needed
      --progress MODE      auto | plain | json | tty  (auto: tty on a terminal, else plain)
      --cache-dir DIR      the store (default: $STRATUM_CACHE_DIR, $XDG_CACHE_HOME/stratum, ~/.cache/stratum)
      --format json        (plan) print JSON
      --debounce MS        (watch) quiet time after a change before rebuilding (default 40)
      --run                (watch) run the image after every successful build, restarting the container
                           from each new image; with --name, -p, -v NAME:/path, -e, --network as for \`stratum run\`
  -h, --help               show this help

Base images: FROM NAME uses a stage, an image in the store (built with -t, loaded, or pulled), else
pulls NAME from its registry once (every blob verified; --platform picks from an index);
FROM oci-layout://DIR[:TAG] imports an OCI layout directory (DIR relative to the Dockerfile's folder).

Exit codes: 0 success, 1 a step failed, 2 bad usage or Dockerfile, 3 store or I/O failure.`;
