#!/usr/bin/env node
// The `bitchat` command: runs the compiled kernel (built by `npm install` / `npm run build`).
import { main } from '../dist/core/cli.js';

process.exitCode = await main();
