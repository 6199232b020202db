import { expect } from 'chai';
import { runDemo } from '../../core/demo.js';

describe('bitchat demo', () => {
  it('local nodes find each other through local discovery, form a full mesh, exchange messages and share a file, then stop cleanly', async () => {
    const lines: string[] = [];
    await runDemo({ nodes: 3, keyBits: 2048, exitWhenDone: true, untilStopped: async () => {}, out: (line) => lines.push(line) });
    const text = lines.join('\n');
    expect(text).to.contain('full mesh: each of the 3 nodes');
    expect(text).to.match(/alice's message reached all 2 others in [\d.]+ ms/);
    expect(text).to.contain('alice got: "hi alice, bob here" from bob@demo.local');
    expect(text).to.contain('alice got: "hi alice, carol here" from carol@demo.local');
    expect(text).to.match(/all 2 others downloaded it in \d+ ms, SHA-256 matches/);
    expect(text).to.match(/watch alice's node in the browser: http:\/\/127\.0\.0\.1:\d+\/\?token=/);
    expect(lines.at(-1)).to.match(/stopped$/);
  });
});
