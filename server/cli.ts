#!/usr/bin/env node
// `portico`: see server/CommandLine.ts (`portico help`).
import { processIo, runCli } from './CommandLine.js';

const code = await runCli(process.argv.slice(2), processIo());
// A refused start may leave handles open (data-plane threads, sockets): a failure ends the process here.
if (code !== 0) process.exit(code);
