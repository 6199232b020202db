// The `bitchat` CLI from the TypeScript sources (what bin/bitchat.js runs after a build).
import { main } from '../../../core/cli.js';

process.exitCode = await main(process.argv.slice(2));
