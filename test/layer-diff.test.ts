import * as assert from 'uvu/assert';
import { suite } from './util/rig.js';
import { asBlobDigest } from '../cache/digest.js';
import { normalizeEntries } from '../cache/layer-digest.js';
import type { LayerEntry, ViewEntry } from '../cache/layer-types.js';
import { IMPLICIT_DIR_MODE, mergeLayers, UnionView } from '../engine/union-view.js';
import { diffViews, sameViewEntry, toLayerEntry } from '../engine/layer-diff.js';
import { chainSuffixDiff } from '../engine/chain-diff.js';
import type { LayerDigest } from '../cache/digest.js';

const t = suite('layer-diff');

// Builders, printers and a seeded generator (a small copy of those in union-view.test.ts).
const f = (path: string, digest = 'x', mode = 0o644): LayerEntry => ({ path, type: 'file', mode, size: digest.length, digest: asBlobDigest(digest) });
const d = (path: string, mode = 0o755): LayerEntry => ({ path, type: 'dir', mode });
const l = (path: string, target: string, mode = 0o777): LayerEntry => ({ path, type: 'symlink', mode, target });
const w = (path: string): LayerEntry => ({ path, type: 'whiteout' });
const o = (path: string, mode = 0o755): LayerEntry => ({ path, type: 'opaque', mode });
const hl = (path: string, target: string): LayerEntry => ({ path, type: 'hardlink', target });
const dv = (path: string, major: number, minor: number): LayerEntry => ({ path, type: 'char', mode: 0o666, major, minor });
const fifo = (path: string): LayerEntry => ({ path, type: 'fifo', mode: 0o644 });
const own = (e: LayerEntry, uid: number, gid: number, xattrs?: Record<string, string>): LayerEntry => ({ ...e, uid, gid, ...(xattrs ? { xattrs } : {}) }) as LayerEntry;

/** One line per entry: `-gone`, `dir/`, `dir/ 700`, `file=digest`, `file=digest 755`, `link->target`,
 *  `hard=>file`, `dev c1,3`, `pipe|`; owners as ` @uid:gid`, xattrs as ` +name`. */
function showLayer(layer: readonly LayerEntry[]): string[] {
  return layer.map((e) => showOne(e) + metaText(e));
}
function metaText(e: LayerEntry | ViewEntry): string {
  if (!('mode' in e)) return '';
  let s = e.uid || e.gid ? ` @${e.uid ?? 0}:${e.gid ?? 0}` : '';
  for (const k of Object.keys(e.xattrs ?? {}).sort()) s += ` +${k}`;
  return s;
}
function showOne(e: LayerEntry): string {
  {
    const m = (dflt: number) => ('mode' in e && e.mode !== dflt ? ` ${e.mode.toString(8)}` : '');
    switch (e.type) {
      case 'whiteout':
        return `-${e.path}`;
      case 'opaque':
        return `${e.path}/!${m(0o755)}`;
      case 'dir':
        return `${e.path}/${m(0o755)}`;
      case 'file':
        return `${e.path}=${e.digest}${m(0o644)}`;
      case 'symlink':
        return `${e.path}->${e.target}${m(0o777)}`;
      case 'hardlink':
        return `${e.path}=>${e.target}`;
      case 'char':
      case 'block':
        return `${e.path} ${e.type[0]}${e.major},${e.minor}${m(0o666)}`;
      case 'fifo':
        return `${e.path}|${m(0o644)}`;
    }
  }
}
/** The view, as showLayer prints entries, plus ` ~first` for a hardlinked file. */
const showView = (v: UnionView) => v.entries().map(([p, e]) => showOne(toLayerEntry(p, e)) + (e.type === 'file' && e.link !== undefined ? ` ~${e.link}` : '') + metaText(e));

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}
const pick = <T>(rand: () => number, xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;

function randomLayer(rand: () => number, deep: boolean): LayerEntry[] {
  const names = deep ? ['a', 'b'] : ['a', 'b', 'c', 'd'];
  const maxDepth = deep ? 7 : 3;
  const byPath = new Map<string, LayerEntry>();
  const n = Math.floor(rand() * 10);
  for (let i = 0; i < n; i++) {
    const path = Array.from({ length: 1 + Math.floor(rand() * maxDepth) }, () => pick(rand, names)).join('/');
    const r = rand();
    const e =
      r < 0.35 ? f(path, pick(rand, ['x', 'y']), pick(rand, [0o644, 0o755]))
      : r < 0.55 ? d(path, pick(rand, [0o755, 0o700]))
      : r < 0.67 ? l(path, pick(rand, ['a', '../b', '/etc']))
      : r < 0.9 ? w(path)
      : o(path, pick(rand, [0o755, 0o711]));
    if (!byPath.has(path)) byPath.set(path, e);
  }
  return [...byPath.values()];
}
const randomView = (rand: () => number, deep: boolean) =>
  mergeLayers(Array.from({ length: 1 + Math.floor(rand() * 4) }, () => randomLayer(rand, deep)));

/** applyLayer(clone(from), diff) must give `to`. */
function roundTrip(from: UnionView, diff: readonly LayerEntry[]): UnionView {
  const v = from.clone();
  v.apply(diff);
  return v;
}

/** The structural half of minimality: every entry is needed where it is. */
function checkShape(from: UnionView, to: UnionView, diff: readonly LayerEntry[], label: string): void {
  assert.equal(diff, normalizeEntries(diff), `${label}: the diff is a sorted, valid layer`);
  for (const e of diff) {
    assert.is.not(e.type, 'opaque', `${label}: no opaque`);
    if (e.type === 'whiteout') {
      assert.ok(from.has(e.path) && !to.has(e.path), `${label}: whiteout ${e.path} deletes something`);
      const parent = e.path.includes('/') ? e.path.slice(0, e.path.lastIndexOf('/')) : '';
      assert.ok(parent === '' || to.get(parent)?.type === 'dir', `${label}: whiteout ${e.path} is top-most`);
    } else {
      const was = from.get(e.path);
      const now = to.get(e.path);
      assert.ok(now, `${label}: ${e.path} is in to`);
      // The one allowed repeat: a hardlink group one of whose paths changed is re-stated
      // whole (its first path as a file, every other path as a hardlink to it).
      const group = e.type === 'hardlink' || diff.some((x) => x.type === 'hardlink' && x.target === e.path);
      assert.ok(!was || group || !sameViewEntry(was, now!), `${label}: ${e.path} changed`);
      if (group && was && sameViewEntry(was, now!)) {
        const head = e.type === 'hardlink' ? e.target : e.path;
        const members = [...to.keys()].filter((p) => { const x = to.get(p)!; return x.type === 'file' && x.link === head; });
        assert.ok(
          [head, ...members].some((p) => { const a = from.get(p); return !a || !sameViewEntry(a, to.get(p)!); }) || from.has(head) === false,
          `${label}: the group of ${head} changed somewhere`,
        );
      }
    }
  }
}

interface Case {
  name: string;
  from: LayerEntry[][];
  to: LayerEntry[][];
  diff: string[];
}

const base = [f('etc/hosts'), f('app/a.js'), f('app/lib/b.js'), f('app/lib/deep/c.js'), l('bin', 'usr/bin'), d('usr/bin')];

const cases: Case[] = [
  { name: 'identical views give an empty layer', from: [base], to: [base], diff: [] },
  { name: 'views built from different layers but equal give an empty layer', from: [[f('a/b')]], to: [[d('a')], [f('a/b', 'old')], [f('a/b')]], diff: [] },
  { name: 'empty to empty', from: [], to: [], diff: [] },
  { name: 'from nothing: every path, parents included', from: [], to: [[f('a/b/c'), l('l', 'a')]], diff: ['a/', 'a/b/', 'a/b/c=x', 'l->a'] },
  { name: 'to nothing: one whiteout per top-level path', from: [base], to: [], diff: ['-app', '-bin', '-etc', '-usr'] },
  { name: 'a new file in an existing dir', from: [base], to: [base, [f('app/new.js')]], diff: ['app/new.js=x'] },
  { name: 'a new file with new implicit parents', from: [base], to: [base, [f('srv/www/i.html')]], diff: ['srv/', 'srv/www/', 'srv/www/i.html=x'] },
  { name: 'a deleted file', from: [base], to: [base, [w('etc/hosts')]], diff: ['-etc/hosts'] },
  { name: 'a deleted dir is one whiteout, not one per descendant', from: [base], to: [base, [w('app/lib')]], diff: ['-app/lib'] },
  { name: 'deleted siblings under a surviving dir', from: [base], to: [base, [w('app/a.js'), w('app/lib')]], diff: ['-app/a.js', '-app/lib'] },
  { name: 'a deleted dir next to a kept path with a shared prefix', from: [[f('a/x'), f('a-b'), f('ab/y')]], to: [[f('a-b'), f('ab/y')]], diff: ['-a'] },
  { name: 'file content change', from: [base], to: [base, [f('etc/hosts', 'y')]], diff: ['etc/hosts=y'] },
  { name: 'file mode change', from: [base], to: [base, [f('etc/hosts', 'x', 0o600)]], diff: ['etc/hosts=x 600'] },
  { name: 'dir mode change only: children are not repeated', from: [base], to: [base, [d('app', 0o700)]], diff: ['app/ 700'] },
  { name: 'dir mode change and a deletion beneath it', from: [base], to: [base, [d('app', 0o700), w('app/lib/deep')]], diff: ['app/ 700', '-app/lib/deep'] },
  { name: 'a file replaced by a dir with children', from: [[f('p')]], to: [[f('p/c'), d('p/e', 0o700)]], diff: ['p/', 'p/c=x', 'p/e/ 700'] },
  { name: 'a dir replaced by a file: no whiteouts for its children', from: [base], to: [base, [f('app', 'now-a-file')]], diff: ['app=now-a-file'] },
  { name: 'a dir replaced by a symlink', from: [base], to: [base, [l('app', '/opt/app')]], diff: ['app->/opt/app'] },
  { name: 'a symlink replaced by a dir', from: [base], to: [base, [d('bin')]], diff: ['bin/'] },
  { name: 'a symlink replaced by a dir with children', from: [base], to: [base, [f('bin/sh')]], diff: ['bin/', 'bin/sh=x'] },
  { name: 'symlink target change', from: [base], to: [base, [l('bin', 'usr/local/bin')]], diff: ['bin->usr/local/bin'] },
  { name: 'symlink mode change', from: [[l('s', 't', 0o777)]], to: [[l('s', 't', 0o755)]], diff: ['s->t 755'] },
  { name: 'a file becomes a symlink', from: [[f('s')]], to: [[l('s', 'x')]], diff: ['s->x'] },
  {
    name: 'an opaque dir upstream becomes whiteouts of what it hid plus its new children',
    from: [base],
    to: [base, [o('app'), f('app/z.js')]],
    diff: ['-app/a.js', '-app/lib', 'app/z.js=x'],
  },
  {
    name: 'deep deletions at several levels',
    from: [[f('r/a/b/c/d/e'), f('r/a/b/x'), f('r/a/y'), f('r/z')]],
    to: [[f('r/a/b/x'), f('r/z')]],
    diff: ['-r/a/b/c', '-r/a/y'],
  },
  { name: 'an implicit parent that turns explicit with the same mode is unchanged', from: [[f('a/b')]], to: [[d('a'), f('a/b')]], diff: [] },
  // --- layer model v2
  { name: 'v2: an owner change alone is a change', from: [[f('a')]], to: [[own(f('a'), 1000, 1000)]], diff: ['a=x @1000:1000'] },
  { name: 'v2: an xattr change alone is a change', from: [[own(f('a'), 0, 0, { 'user.a': 'MQ==' })]], to: [[own(f('a'), 0, 0, { 'user.a': 'Mg==' })]], diff: ['a=x +user.a'] },
  { name: 'v2: a dir owner change does not repeat its children', from: [base], to: [base, [own(d('app'), 1, 1)]], diff: ['app/ @1:1'] },
  { name: 'v2: a new hardlink group is its file and its links', from: [], to: [[f('a', 'p'), hl('b', 'a'), hl('c', 'a')]], diff: ['a=p', 'b=>a', 'c=>a'] },
  { name: 'v2: an unchanged group is not repeated', from: [[f('a', 'p'), hl('b', 'a')]], to: [[f('a', 'p'), hl('b', 'a')], [f('z')]], diff: ['z=x'] },
  {
    name: 'v2: a new link to an unchanged file re-states the file and every member',
    from: [[f('a', 'p'), hl('b', 'a'), f('c', 'p')]],
    to: [[f('a', 'p'), hl('b', 'a'), hl('c', 'a')]],
    diff: ['a=p', 'b=>a', 'c=>a'],
  },
  {
    name: 'v2: a changed file at the first path carries its whole group',
    from: [[f('a', 'p'), hl('b', 'a')]],
    to: [[f('a', 'q'), hl('b', 'a')]],
    diff: ['a=q', 'b=>a'],
  },
  { name: 'v2: a member leaving its group is a plain file', from: [[f('a', 'p'), hl('b', 'a'), hl('c', 'a')]], to: [[f('a', 'p'), hl('b', 'a'), f('c', 'p')]], diff: ['c=p'] },
  { name: 'v2: a deleted member is a whiteout', from: [[f('a', 'p'), hl('b', 'a')]], to: [[f('a', 'p')]], diff: ['-b'] },
  { name: 'v2: devices and fifos: new, renumbered, and replaced', from: [[dv('n', 1, 3), dv('z', 1, 5), fifo('q')]], to: [[dv('n', 1, 3), dv('z', 1, 7), f('q'), fifo('r')]], diff: ['q=x', 'r|', 'z c1,7'] },
];

for (const c of cases) {
  t.test(c.name, () => {
    const from = mergeLayers(c.from);
    const to = mergeLayers(c.to);
    const diff = diffViews(from, to);
    assert.equal(showLayer(diff), c.diff);
    assert.equal(showView(roundTrip(from, diff)), showView(to), 'round trip');
    checkShape(from, to, diff, c.name);
  });
}

t.test('accepts plain View maps as well as UnionViews', () => {
  const from = mergeLayers([base]);
  const to = mergeLayers([base, [w('app/lib'), f('n/m')]]);
  assert.equal(diffViews(from.toMap(), to.toMap()), diffViews(from, to));
  assert.equal(diffViews(from, to.toMap()), diffViews(from, to));
});

t.test('does not alias the views: mutating the diff leaves `to` alone', () => {
  const to = mergeLayers([[f('a')]]);
  const diff = diffViews(new UnionView(), to);
  (diff[0] as { mode: number }).mode = 0o777;
  assert.is(to.get('a')?.mode, 0o644);
});

t.test('sameViewEntry compares type, mode, content and target', () => {
  const e = (x: LayerEntry) => mergeLayers([[x]]).get(x.path)!;
  const table: [ViewEntry, ViewEntry, boolean][] = [
    [e(f('a')), e(f('a')), true],
    [e(f('a', 'x')), e(f('a', 'y')), false],
    [e(f('a', 'x', 0o644)), e(f('a', 'x', 0o755)), false],
    [{ type: 'file', mode: 0o644, size: 1, digest: asBlobDigest('x') }, { type: 'file', mode: 0o644, size: 2, digest: asBlobDigest('x') }, false],
    [e(d('a')), e(d('a')), true],
    [e(d('a')), e(d('a', 0o700)), false],
    [e(l('a', 't')), e(l('a', 't')), true],
    [e(l('a', 't')), e(l('a', 'u')), false],
    [e(d('a')), e(f('a')), false],
    [e(l('a', 't')), e(f('a')), false],
  ];
  for (const [a, b, same] of table) {
    assert.is(sameViewEntry(a, b), same, `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
    assert.is(sameViewEntry(b, a), same, 'symmetric');
  }
});

t.test('random round trip: applying diffViews(from, to) on from gives to (4,000 seeded pairs)', () => {
  let nonEmpty = 0;
  for (let seed = 1; seed <= 4000; seed++) {
    const rand = rng(seed);
    const deep = seed % 3 === 0;
    const from = randomView(rand, deep);
    let to: UnionView;
    if (seed % 2) {
      to = randomView(rand, deep); // unrelated trees
    } else {
      to = from.clone(); // a few more steps on top: the usual build case
      for (let i = 1 + Math.floor(rand() * 3); i > 0; i--) to.apply(randomLayer(rand, deep));
    }
    const label = `seed ${seed}`;
    const diff = diffViews(from, to);
    if (diff.length) nonEmpty++;
    const got = showView(roundTrip(from, diff));
    const want = showView(to);
    if (got.join('\n') !== want.join('\n')) {
      assert.equal(got, want, `${label}: from ${JSON.stringify(showView(from))}, diff ${JSON.stringify(showLayer(diff))}`);
    }
    checkShape(from, to, diff, label);
    assert.equal(diffViews(to, to), [], `${label}: a view against itself`);
  }
  assert.ok(nonEmpty > 3000, `most pairs differ (${nonEmpty})`);
});

t.test('chainSuffixDiff equals diffViews of the two merged chains whenever it answers (6,000 seeded chain pairs)', () => {
  let answered = 0;
  let nonEmpty = 0;
  for (let seed = 1; seed <= 6000; seed++) {
    const rand = rng(seed * 7919);
    const deep = seed % 3 === 0;
    // Mostly plain layers (files, dirs, symlinks), as COPY and most RUNs make; some with
    // whiteouts and opaque dirs, where it must decline or still be exact.
    // Plain ones name their parent dirs, as a COPY's layer does.
    const withParents = (entries: LayerEntry[]) => {
      const byPath = new Map(entries.map((e) => [e.path, e]));
      for (const e of entries) {
        for (let p = e.path.slice(0, Math.max(0, e.path.lastIndexOf('/'))); p !== ''; p = p.slice(0, Math.max(0, p.lastIndexOf('/')))) {
          const have = byPath.get(p);
          if (!have) byPath.set(p, d(p, pick(rand, [0o755, 0o700])));
          else if (have.type !== 'dir') byPath.delete(e.path);
        }
      }
      return [...byPath.values()];
    };
    const plain = () => (seed % 4 === 0 ? randomLayer(rand, deep) : withParents(randomLayer(rand, deep).filter((e) => e.type !== 'whiteout' && e.type !== 'opaque')));
    const layers = new Map<string, LayerEntry[]>();
    const add = (entries: LayerEntry[]) => {
      const id = `L${layers.size}` as LayerDigest;
      layers.set(id, normalizeEntries(entries));
      return id;
    };
    const prefix = Array.from({ length: Math.floor(rand() * 3) }, () => add(plain()));
    const from = [...prefix, ...Array.from({ length: Math.floor(rand() * 3) }, () => add(plain()))];
    const toL = [...prefix, ...Array.from({ length: Math.floor(rand() * 3) }, () => add(plain()))];
    const merged = (ids: LayerDigest[]) => mergeLayers(ids.map((id) => layers.get(id)!));
    const to = merged(toL);
    const want = diffViews(merged(from), to);
    const got = chainSuffixDiff(from, toL, to, (d) => (layers.has(d) ? { entries: layers.get(d)! } : undefined));
    if (got === undefined) continue;
    answered++;
    if (want.length) nonEmpty++;
    assert.equal(showLayer(got), showLayer(want), `seed ${seed}: from ${JSON.stringify(from.map((id) => showLayer(layers.get(id)!)))} to ${JSON.stringify(toL.map((id) => showLayer(layers.get(id)!)))}`);
  }
  assert.ok(answered > 2200 && nonEmpty > 1300, `it answers most plain pairs (${answered} answered, ${nonEmpty} non-empty)`);
});

t.test('v2 random round trip with hardlink groups, owners, devices and fifos (2,000 seeded pairs)', () => {
  const names = ['a', 'b', 'c', 'd'];
  const layer = (rand: () => number): LayerEntry[] => {
    const byPath = new Map<string, LayerEntry>();
    for (let i = Math.floor(rand() * 8); i > 0; i--) {
      const path = Array.from({ length: 1 + Math.floor(rand() * 2) }, () => pick(rand, names)).join('/');
      const r = rand();
      const e =
        r < 0.3 ? own(f(path, pick(rand, ['x', 'y'])), pick(rand, [0, 1000]), pick(rand, [0, 1000]))
        : r < 0.45 ? d(path)
        : r < 0.55 ? dv(path, 1, pick(rand, [3, 5]))
        : r < 0.62 ? fifo(path)
        : r < 0.8 ? w(path)
        : undefined;
      if (e && !byPath.has(path)) byPath.set(path, e);
    }
    // Hardlinks to files that sort before them.
    const files = [...byPath.values()].filter((e) => e.type === 'file').map((e) => e.path);
    for (let i = Math.floor(rand() * 3); i > 0 && files.length; i--) {
      const target = pick(rand, files);
      const path = `${target}~${i}`;
      if (!byPath.has(path)) byPath.set(path, hl(path, target));
    }
    return [...byPath.values()];
  };
  let linked = 0;
  for (let seed = 1; seed <= 2000; seed++) {
    const rand = rng(50_000 + seed);
    const from = mergeLayers(Array.from({ length: 1 + Math.floor(rand() * 3) }, () => layer(rand)));
    const to = from.clone();
    for (let i = 1 + Math.floor(rand() * 2); i > 0; i--) to.apply(layer(rand));
    const diff = diffViews(from, to);
    if (diff.some((e) => e.type === 'hardlink')) linked++;
    assert.equal(showView(roundTrip(from, diff)), showView(to), `seed ${seed}: diff ${JSON.stringify(showLayer(diff))}`);
    checkShape(from, to, diff, `seed ${seed}`);
    assert.equal(diffViews(to, to), []);
  }
  assert.ok(linked > 200, `enough diffs carry hardlinks (${linked})`);
});

t.test('random minimality: dropping any one entry but a new parent dir breaks the round trip (1,000 pairs)', () => {
  for (let seed = 1; seed <= 1000; seed++) {
    const rand = rng(10_000 + seed);
    const deep = seed % 2 === 0;
    const from = randomView(rand, deep);
    const to = from.clone();
    to.apply(randomLayer(rand, deep));
    to.apply(randomLayer(rand, deep));
    const diff = diffViews(from, to);
    const want = showView(to).join('\n');
    for (let i = 0; i < diff.length; i++) {
      // The one deliberate redundancy: a new parent dir with the implicit mode is named
      // explicitly, so that the layer stands on its own (an OCI tar lists parent dirs too).
      const e = diff[i]!;
      const was = from.get(e.path);
      const newParent =
        e.type === 'dir' && e.mode === IMPLICIT_DIR_MODE && was?.type !== 'dir' && diff.some((x) => x.type !== 'whiteout' && x.path.startsWith(`${e.path}/`));
      if (newParent) continue;
      const fewer = diff.filter((_, j) => j !== i);
      assert.is.not(showView(roundTrip(from, fewer)).join('\n'), want, `seed ${seed}: ${showLayer([diff[i]!])[0]} is redundant`);
    }
  }
});

t.test('a large view: the diff names only what changed (50,000 paths)', () => {
  const files: LayerEntry[] = [];
  for (let i = 0; i < 500; i++) for (let j = 0; j < 100; j++) files.push(f(`node_modules/pkg${i}/f${j}.js`));
  const from = mergeLayers([files]);
  const to = from.clone();
  to.apply([w('node_modules/pkg7'), f('node_modules/pkg8/f1.js', 'changed'), f('node_modules/pkg9/f2.js', 'x', 0o755), f('dist/out.js')]);
  const diff = diffViews(from, to);
  assert.equal(showLayer(diff), ['dist/', 'dist/out.js=x', '-node_modules/pkg7', 'node_modules/pkg8/f1.js=changed', 'node_modules/pkg9/f2.js=x 755']);
  assert.equal(showView(roundTrip(from, diff)).length, to.size);
});

t.run();
