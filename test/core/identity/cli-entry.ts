// Runs the kernel CLI in a child process (so a test can talk to it over stdin).
import { main } from '../../../core/cli.js';

process.exitCode = await main(process.argv.slice(2));
