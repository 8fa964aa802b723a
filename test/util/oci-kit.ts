/**
 * Helpers for the OCI tests: external tools that must be present (skopeo, umoci), tars built
 * with tar-stream (for hand-made and hostile archives), hand-written OCI layouts, and a
 * comparable description of a directory tree.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { pack as tarPack } from 'tar-stream';

const execFileP = promisify(execFile);

/** Run a tool; a missing tool fails the test with a message that says how to install it. */
export async function tool(name: 'skopeo' | 'umoci', args: string[]): Promise<{ stdout: string; stderr: string }> {
  try {
    return await execFileP(name, args, { maxBuffer: 64 << 20 });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string; stdout?: string };
    if (e.code === 'ENOENT') throw new Error(`${name} is not installed: this test needs it (apt-get install -y ${name}; .ci/run installs it)`);
    throw new Error(`${name} ${args.join(' ')} failed: ${e.stderr || e.message}`);
  }
}

export const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');

export interface TarItem {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'fifo';
  body?: string | Buffer;
  linkname?: string;
  mode?: number;
}

/** A tar of `items`, in order, written by tar-stream. */
export async function makeTar(items: TarItem[]): Promise<Buffer> {
  const p = tarPack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of p) chunks.push(c as Buffer);
  })();
  for (const it of items) {
    const type = it.type ?? 'file';
    const header = { name: it.name, type, mode: it.mode ?? (type === 'directory' ? 0o755 : type === 'symlink' ? 0o777 : 0o644), mtime: new Date(0), ...(it.linkname !== undefined ? { linkname: it.linkname } : {}) };
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      if (type === 'file') p.entry(header, Buffer.from(it.body ?? ''), cb);
      else p.entry(header, cb);
    });
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

export interface LayoutSpec {
  /** Layer tars (uncompressed); gzipped unless `gzip: false`. */
  layers: Buffer[];
  gzip?: boolean;
  tag?: string;
  /** Full image name annotation (io.containerd.image.name). */
  imageName?: string;
  config?: Record<string, unknown>;
  history?: Record<string, unknown>[];
  /** Break the layout on purpose. */
  tamper?: { layerDigest?: number; layerSize?: number; diffId?: number };
}

/** Write an OCI image layout by hand; returns the layer blobs' digests. */
export function writeLayout(dir: string, spec: LayoutSpec): { layerDigests: string[]; manifestDigest: string } {
  const blobs = join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const put = (data: Buffer) => {
    const hex = sha256(data);
    writeFileSync(join(blobs, hex), data);
    return { hex, size: data.length };
  };
  const diffIds = spec.layers.map((t) => sha256(t));
  const layerDescs = spec.layers.map((t, i) => {
    const blob = spec.gzip === false ? t : gzipSync(t);
    const { hex, size } = put(blob);
    return {
      mediaType: spec.gzip === false ? 'application/vnd.oci.image.layer.v1.tar' : 'application/vnd.oci.image.layer.v1.tar+gzip',
      digest: `sha256:${spec.tamper?.layerDigest === i ? sha256('not this') : hex}`,
      size: spec.tamper?.layerSize === i ? size + 1 : size,
    };
  });
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: spec.config ?? {},
      rootfs: { type: 'layers', diff_ids: diffIds.map((d, i) => `sha256:${spec.tamper?.diffId === i ? sha256('other') : d}`) },
      history: spec.history ?? spec.layers.map((_, i) => ({ created_by: `layer ${i}` })),
    }),
  );
  const c = put(config);
  const manifest = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${c.hex}`, size: c.size }, layers: layerDescs }),
  );
  const m = put(manifest);
  const annotations: Record<string, string> = {};
  if (spec.tag) annotations['org.opencontainers.image.ref.name'] = spec.tag;
  if (spec.imageName) annotations['io.containerd.image.name'] = spec.imageName;
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(
    join(dir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${m.hex}`, size: m.size, ...(Object.keys(annotations).length ? { annotations } : {}) }] }),
  );
  return { layerDigests: layerDescs.map((d) => d.digest), manifestDigest: `sha256:${m.hex}` };
}

/** Every path under `root` as "path type mode content-or-target", sorted: two trees are
 *  equal when these lists are. */
export function describeTree(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const abs = join(root, r);
      const st = lstatSync(abs);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isDirectory()) {
        out.push(`${r} dir ${mode}`);
        walk(r);
      } else if (st.isSymbolicLink()) out.push(`${r} symlink -> ${readlinkSync(abs)}`);
      else if (st.isFile()) out.push(`${r} file ${mode} ${sha256(readFileSync(abs)).slice(0, 16)}`);
      else out.push(`${r} other`);
    }
  };
  walk('');
  return out;
}

/** The entries of a (gzipped) tar as "name type mode size uid/gid mtime linkname". */
export async function listTar(data: Buffer): Promise<string[]> {
  const { extract } = await import('tar-stream');
  const { gunzipSync } = await import('node:zlib');
  const raw = data[0] === 0x1f && data[1] === 0x8b ? gunzipSync(data) : data;
  const ex = extract();
  const out: string[] = [];
  const done = (async () => {
    for await (const e of ex) {
      const h = e.header;
      out.push(`${h.name} ${h.type} ${(h.mode & 0o7777).toString(8)} ${h.size} ${h.uid}/${h.gid} ${h.mtime?.getTime() / 1000} ${h.linkname ?? ''}`.trim());
      for await (const _ of e) void _;
    }
  })();
  ex.end(raw);
  await done;
  return out;
}
