// Loads the compiled addon once. Typed faces of its parts live beside this file (sys.ts,
// fuse-dev.ts, vhost-user.ts); every other module imports those, never the .node file.
import * as path from 'node:path';

// dist/src/native/addon.js -> <root>/build/Release/vfsd_native.node
const addonPath = path.resolve(__dirname, '..', '..', '..', 'build', 'Release', 'vfsd_native.node');
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const addon: any = require(addonPath);
