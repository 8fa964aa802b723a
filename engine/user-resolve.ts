/**
 * `USER name[:group]` → numeric ids, read from the image's own /etc/passwd and /etc/group,
 * as Docker resolves them inside the container. Pure over a file reader.
 */
export interface ResolvedUser {
  uid: number;
  gid: number;
  /** Supplementary groups from /etc/group (for a named user). */
  groups: number[];
  home: string;
}

export type UserResult = { ok: true; user: ResolvedUser | undefined } | { ok: false; message: string; hint: string };

const NUM = /^\d+$/;

export function resolveUser(spec: string, read: (path: string) => string | undefined): UserResult {
  if (spec === '' || spec === 'root' || spec === '0' || spec === '0:0' || spec === 'root:root') {
    return { ok: true, user: spec === '' ? undefined : { uid: 0, gid: 0, groups: [], home: '/root' } };
  }
  const [u, g] = spec.split(':', 2) as [string, string | undefined];
  const passwd = parseTable(read('etc/passwd'));
  const group = parseTable(read('etc/group'));
  let uid: number;
  let gid: number | undefined;
  let home = '/';
  let name: string | undefined;
  if (NUM.test(u)) {
    uid = Number(u);
    const row = passwd.find((r) => r[2] === u);
    if (row) {
      gid = Number(row[3]);
      home = row[5] ?? '/';
      name = row[0];
    }
  } else {
    const row = passwd.find((r) => r[0] === u);
    if (!row) return { ok: false, message: `USER ${spec}: no user "${u}" in the image's /etc/passwd`, hint: 'create the user in an earlier RUN (useradd), or give a numeric uid' };
    uid = Number(row[2]);
    gid = Number(row[3]);
    home = row[5] ?? '/';
    name = u;
  }
  if (g !== undefined) {
    if (NUM.test(g)) gid = Number(g);
    else {
      const row = group.find((r) => r[0] === g);
      if (!row) return { ok: false, message: `USER ${spec}: no group "${g}" in the image's /etc/group`, hint: 'create the group in an earlier RUN (groupadd), or give a numeric gid' };
      gid = Number(row[2]);
    }
  }
  const groups = name !== undefined ? group.filter((r) => (r[3] ?? '').split(',').includes(name!)).map((r) => Number(r[2])) : [];
  // Docker: a user without a primary group runs with the root group.
  return { ok: true, user: { uid, gid: gid ?? 0, groups, home } };
}

function parseTable(text: string | undefined): string[][] {
  if (!text) return [];
  return text
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.split(':'));
}
