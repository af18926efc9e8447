// The FUSE 7.45 ABI in one import: `import * as P from '../protocol'`.
// Pure: no I/O, imports nothing outside src/protocol. See each file's header for its API:
//   opcodes.ts  Op, NotifyCode, opName
//   flags.ts    every flag word (INIT flags and flags2, FATTR_, FOPEN_, ...)
//   errno.ts    Errno
//   layout.ts   struct sizes (with COMPAT sizes), version, align8
//   wire.ts     64-bit numbers, names, rdev, ProtocolError
//   request.ts  readInHeader, decodeExtensions (the frame); one decoder per request body in
//               request-entries.ts, request-files.ts, request-xattrs.ts, request-session.ts
//   reply.ts    writeOutHeader, one encoder per reply payload, dirents, notifications
//   init.ts     negotiateInit
export * from './opcodes';
export * from './flags';
export * from './errno';
export * from './layout';
export * from './wire';
export * from './request';
export * from './request-entries';
export * from './request-files';
export * from './request-xattrs';
export * from './request-session';
export * from './reply';
export * from './init';

// tsc compiles each `export *` above into getters that all share one function (`return m[k]`), so
// every `P.x` in the server's hot path was a call through a megamorphic keyed load — measured
// with callgrind at several thousand instructions per request. Replace the exports with a plain
// object holding the same values as data properties (the submodules' exports never change after
// loading); `__esModule` keeps `import * as P` using it as it is.
module.exports = Object.defineProperty({ ...module.exports }, '__esModule', { value: true });
