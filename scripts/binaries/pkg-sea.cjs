// Runs pkg's SEA pipeline (@yao-pkg/pkg, simple mode: one bundled .js file) for targets of one Node
// major. Called by build.mjs with the pinned linux-x64 base Node as the interpreter: pkg refuses to run
// its SEA mode on a host Node older than 22, and it generates the SEA blob with the host-arch target's
// binary (or this process's node when the version matches), so blob and targets are the same version.
//
// We call pkg's `sea()` rather than its CLI because the CLI does not pass `seaConfig` through, and the
// heap cap is baked in as the SEA config's `execArgv`. The base binaries are already in pkg's SEA cache
// ($HOME/.pkg-cache/sea, prepared by build.mjs), so pkg downloads nothing.
//
// argv[2]: JSON {entry, targets: [{nodeRange, platform, arch, output}], execArgv}
'use strict';
const { default: sea } = require('@yao-pkg/pkg/lib-es5/sea.js');

const job = JSON.parse(process.argv[2]);
if (Number(process.versions.node.split('.')[0]) < 22) {
  process.stderr.write(`pkg-sea: needs Node >= 22 to run pkg --sea; this is ${process.version}\n`);
  process.exit(1);
}
sea(job.entry, {
  targets: job.targets,
  signature: false,
  seaConfig: { disableExperimentalSEAWarning: true, useSnapshot: false, useCodeCache: false, execArgv: job.execArgv },
}).catch((err) => {
  process.stderr.write(`pkg-sea: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
