#!/usr/bin/env node
// `npm start`: placeholder until the CLI lands.
console.log('vfsd: not yet runnable');
