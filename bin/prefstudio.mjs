#!/usr/bin/env node
// The CLI runs the TypeScript sources directly through tsx: no build step after install.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
