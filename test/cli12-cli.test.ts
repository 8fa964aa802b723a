/** Issue 12, item 7: per-command help, refused flags, "did you mean", -f -, completion, cache verify's exit. */
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { suite, Rig } from './util/rig.js';
import { runCli, CLI, buildDone } from './util/cli.js';

const t = suite('cli12 cli', { timeoutMs: 60_000 });
let rig: Rig;
t.beforeEach(() => {
  rig = new Rig();
});
t.afterEach(() => rig.cleanup());

t.test('build, plan and watch each have their own --help', async () => {
  const b = await runCli(['build', '--help']);
  assert.is(b.code, 0);
  assert.match(b.stdout, /^Usage: stratum build/);
  assert.match(b.stdout, /--metadata-file/);
  assert.not.match(b.stdout, /--debounce/);
  const w = await runCli(['watch', '--help']);
  assert.match(w.stdout, /^Usage: stratum watch/);
  assert.match(w.stdout, /Keys \(terminal UI\):[\s\S]*q, Ctrl-C[\s\S]*\br\b[\s\S]*\bf\b/);
  const p = await runCli(['plan', '-h']);
  assert.match(p.stdout, /^Usage: stratum plan[\s\S]*--format/);
  for (const c of ['images', 'history', 'inspect', 'rmi', 'du', 'prune', 'load', 'cache', 'completion']) {
    const r = await runCli([c, '--help']);
    assert.is(r.code, 0, `${c} --help: ${r.stderr}`);
    assert.match(r.stdout, /Usage: stratum/, c);
  }
});

t.test('a flag the command does not take is refused, with where it belongs', async () => {
  rig.write({ 'ctx/Dockerfile': 'FROM scratch\n' });
  const img = await runCli(['images', '--debounce', '5']);
  assert.is(img.code, 2);
  assert.match(img.stderr, /images: Unknown option '--debounce'/);
  const plan = await runCli(['plan', '--debounce', '5', rig.path('ctx')]);
  assert.is(plan.code, 2);
  assert.match(plan.stderr, /--debounce is not an option of `stratum plan`\nhint: --debounce is for `stratum watch`/);
  const build = await runCli(['build', '--format', 'json', rig.path('ctx')]);
  assert.is(build.code, 2);
  const watch = await runCli(['watch', '--metadata-file', 'x', rig.path('ctx')]);
  assert.is(watch.code, 2);
});

t.test('did you mean: commands, flags, --target', async () => {
  const c = await runCli(['bulid']);
  assert.is(c.code, 2);
  assert.match(c.stderr, /did you mean `stratum build`\?/);
  const f = await runCli(['build', '--no-cahce', '.']);
  assert.match(f.stderr, /hint: did you mean --no-cache\?/);
  const s = await runCli(['images', '--fromat', 'json']);
  assert.match(s.stderr, /did you mean --format\?/);
  rig.write({ 'ctx/Dockerfile': 'FROM scratch AS build\nFROM scratch AS test\n' });
  const tg = await runCli(['build', '--progress=json', '--cache-dir', rig.path('store'), '--target', 'biuld', rig.path('ctx')]);
  assert.is(tg.code, 2);
  assert.match(tg.stderr, /did you mean "build"\?/);
});

t.test('-f - reads the Dockerfile from stdin', () => {
  rig.write({ 'ctx/a': 'a\n' });
  const r = spawnSync(process.execPath, [CLI, 'build', '-f', '-', '--progress=json', '--cache-dir', rig.path('store'), rig.path('ctx')], { input: 'FROM scratch\nCOPY a /\n', encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  assert.is(r.status, 0, r.stderr);
  const done = buildDone({ code: 0, signal: null, stdout: r.stdout, stderr: r.stderr, events: r.stdout.trim().split('\n').map((l) => JSON.parse(l)) });
  assert.is(done!.misses, 1);
  const w = spawnSync(process.execPath, [CLI, 'watch', '-f', '-', rig.path('ctx')], { input: 'FROM scratch\n', encoding: 'utf8' });
  assert.is(w.status, 2);
});

t.test('completion scripts for bash, zsh and fish', async () => {
  const bash = await runCli(['completion', 'bash']);
  assert.is(bash.code, 0);
  assert.match(bash.stdout, /complete -F _stratum stratum/);
  assert.match(bash.stdout, /watch\) flags="[^"]*--debounce/);
  assert.is(spawnSync('bash', ['-n'], { input: bash.stdout }).status, 0, 'valid bash');
  assert.match((await runCli(['completion', 'zsh'])).stdout, /bashcompinit/);
  assert.match((await runCli(['completion', 'fish'])).stdout, /__fish_seen_subcommand_from build' -l no-cache/);
  assert.is((await runCli(['completion', 'tcsh'])).code, 2);
});

t.test('docker\'s everyday flags: images -q, --filter reference=, --format TEMPLATE; inspect -f; prune -f', async () => {
  rig.write({ 'ctx/Dockerfile': 'FROM scratch\nCOPY a /\nCMD ["run", "it"]\nENV A=1\n', 'ctx/a': 'a\n' });
  const store = ['--cache-dir', rig.path('store')];
  const b = await runCli(['build', '--progress=plain', ...store, '-t', 'app:1', '-t', 'app:2', '-t', 'tool:x', rig.path('ctx')]);
  assert.is(b.code, 0, b.stderr);
  const q = await runCli(['images', '-q', ...store]);
  assert.match(q.stdout, /^[0-9a-f]{12}\n$/, 'one image id, once');
  const f = await runCli(['images', ...store, '--filter', 'reference=app:*', '--format', '{{.Repository}}:{{.Tag}}']);
  assert.equal(f.stdout.trim().split('\n').sort(), ['app:1', 'app:2']);
  assert.is((await runCli(['images', ...store, '--filter', 'label=x'])).code, 2);
  assert.is((await runCli(['images', ...store, '--format', '{{range .}}x{{end}}'])).code, 2);
  const i = await runCli(['inspect', ...store, '-f', '{{.Config.Cmd}}|{{json .Config.Env}}|{{.Nope}}', 'app:1']);
  assert.is(i.stdout, '[run it]|["A=1"]|<no value>\n');
  assert.is((await runCli(['prune', '-f', ...store])).code, 0);
});

t.run();
