/** BuildKit's automatic platform ARGs: global scope (usable in FROM), and in a stage once declared. */
import * as assert from 'uvu/assert';
import { suite, Rig } from './util/rig.js';
import { runCli } from './util/cli.js';
import { formatPlatform, hostPlatform, parsePlatform, platformArgs } from '../engine/platform.js';

const t = suite('platform args');
let rig: Rig;
t.beforeEach(() => {
  rig = new Rig();
});
t.afterEach(() => rig.cleanup());

t.test('a multi-arch Dockerfile picks its base from TARGETARCH, as BuildKit builds it', async () => {
  const arch = hostPlatform().architecture;
  rig.write({
    Dockerfile: `ARG FLAVOR=\${TARGETARCH}
FROM scratch AS amd64
COPY a.txt /flavor.txt
FROM scratch AS arm64
COPY b.txt /flavor.txt
FROM \${FLAVOR} AS image
ARG TARGETPLATFORM
ARG BUILDARCH
RUN ["/bin/sh", "-c", "echo $TARGETPLATFORM $BUILDARCH > platform.txt"]
`,
    'a.txt': 'amd64\n',
    'b.txt': 'arm64\n',
  });
  const r = await runCli(['build', '--progress=plain', '--cache-dir', rig.path('store'), '-o', `type=local,dest=${rig.path('out')}`, rig.dir]);
  assert.is(r.code, 0, r.stderr + r.stdout);
  assert.is(rig.read('out/flavor.txt'), arch === 'arm64' ? 'arm64\n' : 'amd64\n');
  assert.is(rig.read('out/platform.txt'), `linux/${arch} ${arch}\n`);
});

t.test('an ARG declared in a stage without the global one stays empty, and a stage ARG without declaration is not in RUN', async () => {
  rig.write({
    Dockerfile: `FROM scratch
RUN ["/bin/sh", "-c", "echo \\"[$TARGETOS]\\" > a.txt"]
ARG TARGETOS
RUN ["/bin/sh", "-c", "echo \\"[$TARGETOS]\\" > b.txt"]
`,
  });
  const r = await runCli(['build', '--progress=plain', '--cache-dir', rig.path('store'), '-o', `type=local,dest=${rig.path('out')}`, rig.dir]);
  assert.is(r.code, 0, r.stderr + r.stdout);
  assert.is(rig.read('out/a.txt'), '[]\n');
  assert.is(rig.read('out/b.txt'), '[linux]\n');
});

t.test('platform names parse and format as OCI writes them', () => {
  assert.equal(parsePlatform('linux/amd64'), { os: 'linux', architecture: 'amd64' });
  assert.equal(parsePlatform('linux/arm64/v8'), { os: 'linux', architecture: 'arm64' });
  assert.equal(parsePlatform('linux/arm/v7'), { os: 'linux', architecture: 'arm', variant: 'v7' });
  assert.equal(parsePlatform('linux/x86_64'), { os: 'linux', architecture: 'amd64' });
  assert.is(parsePlatform('linux/amd64/v2/extra'), undefined);
  assert.is(parsePlatform('Linux/$(rm)'), undefined);
  assert.is(formatPlatform({ os: 'linux', architecture: 'arm', variant: 'v7' }), 'linux/arm/v7');
  const args = platformArgs({ os: 'linux', architecture: 'arm', variant: 'v7' }, { os: 'linux', architecture: 'amd64' });
  assert.equal(args, { TARGETPLATFORM: 'linux/arm/v7', TARGETOS: 'linux', TARGETARCH: 'arm', TARGETVARIANT: 'v7', BUILDPLATFORM: 'linux/amd64', BUILDOS: 'linux', BUILDARCH: 'amd64', BUILDVARIANT: '' });
});

t.run();
