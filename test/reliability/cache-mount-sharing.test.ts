/**
 * `RUN --mount=type=cache,sharing=locked|private` under concurrent builds (real CLI
 * processes, one store): `locked` runs its users one at a time on one directory, so their
 * writes never interleave; `private` gives concurrent users separate copies, each written
 * by one user at a time.
 */
import * as assert from 'uvu/assert';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite, Rig } from '../util/rig.js';
import { runCli } from './rig.js';

const t = suite('reliability: cache mount sharing', { timeoutMs: 90_000 });

function logs(store: string): string[][] {
  const base = join(store, 'dirs', 'cache-mounts');
  const out: string[][] = [];
  for (const h of existsSync(base) ? readdirSync(base) : []) {
    for (const slot of readdirSync(join(base, h))) {
      const f = join(base, h, slot, 'log');
      if (/^[0-9]+$/.test(slot) && existsSync(f)) out.push(readFileSync(f, 'utf8').trim().split('\n'));
    }
  }
  return out;
}

/** Every `start X` is followed at once by `end X`: no other user wrote in between. */
function paired(lines: string[]): boolean {
  for (let i = 0; i < lines.length; i += 2) if (lines[i]!.replace('start', 'end') !== lines[i + 1]) return false;
  return true;
}

for (const sharing of ['locked', 'private'] as const) {
  t.test(`sharing=${sharing}: concurrent users never write one cache directory at once`, async () => {
    const rig = new Rig(`stratum-cm-${sharing}-`);
    try {
      rig.write({
        'ctx/Dockerfile': `FROM scratch\nARG WHO\nRUN --mount=type=cache,target=/c,id=cm,sharing=${sharing} echo "start $WHO" >> c/log && sleep 0.3 && echo "end $WHO" >> c/log && echo "$WHO" > who.txt\n`,
      });
      const store = rig.path('store');
      const whos = ['a', 'b', 'c', 'd'];
      const results = await Promise.all(whos.map((w) => runCli(['build', '--progress=json', '--cache-dir', store, '--build-arg', `WHO=${w}`, rig.path('ctx')])));
      for (const r of results) assert.is(r.code, 0, r.stderr);
      const all = logs(store);
      assert.is(all.flat().length, 2 * whos.length, 'every user wrote its two lines');
      for (const l of all) assert.ok(paired(l), `interleaved writes: ${JSON.stringify(l)}`);
      if (sharing === 'locked') assert.is(all.length, 1, 'one directory');
      const contention = results.flatMap((r) => r.events.filter((e) => e.type === 'contention' && e.resource === 'cache-mount'));
      if (sharing === 'private') assert.is(all.length, 1 + new Set(contention.map((e) => (e.type === 'contention' ? e.slot : 0))).size, 'a copy per concurrent user');
    } finally {
      rig.cleanup();
    }
  });
}

t.run();
