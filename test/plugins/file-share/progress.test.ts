import { expect } from 'chai';
import { ProgressBar, formatBytes, formatDuration, formatProgress, type ProgressOutput } from '../../../plugins/file-share/progress.js';

const MIB = 1024 * 1024;

/** An output that records what was written, as a terminal or a pipe. */
function recorder(isTTY: boolean, columns = 120): ProgressOutput & { text: string[] } {
  const text: string[] = [];
  return { isTTY, columns, text, write: (t: string) => text.push(t) };
}

describe('file-share CLI progress display', () => {
  it('formats bytes, durations and one progress line with percent, rate, peers and ETA', () => {
    expect(formatBytes(512)).to.equal('512 B');
    expect(formatBytes(1536)).to.equal('1.5 KiB');
    expect(formatBytes(64 * MIB)).to.equal('64.0 MiB');
    expect(formatDuration(3)).to.equal('0:03');
    expect(formatDuration(3725)).to.equal('1:02:05');
    expect(formatDuration(Number.NaN)).to.equal('--:--');
    const line = formatProgress('movie.mp4', { bytes: 16 * MIB, size: 64 * MIB, peers: 2 }, 8 * MIB, 120);
    expect(line).to.equal('movie.mp4 [######..................]  25%  16.0 MiB/64.0 MiB  8.0 MiB/s  2 peers  ETA 0:06');
    // Hashing has no peers; an unknown rate has no ETA; a narrow terminal loses the bar, not the figures.
    expect(formatProgress('hashing a', { bytes: 0, size: MIB }, 0)).to.match(/ {3}0%  0 B\/1\.0 MiB  0 B\/s  ETA --:--$/);
    expect(formatProgress('a', { bytes: MIB, size: MIB, peers: 1 }, MIB, 40)).to.equal('a 100%  1.0 MiB/1.0 MiB  1.0 MiB/s  1 peer  done');
  });

  it('redraws one line on a terminal, at most every 100 ms, and ends it with a newline', () => {
    let now = 0;
    const out = recorder(true);
    const bar = new ProgressBar(out, 'f', { now: () => now });
    for (let i = 0; i <= 100; i++) {
      now = i * 10;
      bar.update({ bytes: i * MIB, size: 100 * MIB, peers: 1 });
    }
    // 1 s of updates every 10 ms: one redraw per 100 ms.
    expect(out.text).to.have.length(11);
    for (const t of out.text) expect(t).to.match(/^\r.*\x1b\[K$/);
    // 1 MiB per 10 ms = 100 MiB/s, measured from the samples.
    expect(bar.rate).to.be.closeTo(100 * MIB, MIB);
    bar.done();
    expect(out.text.at(-1)).to.equal('\n');
    bar.update({ bytes: 0, size: 1 });
    expect(out.text.at(-1)).to.equal('\n');
  });

  it('prints plain lines every 2 s when not a terminal, using the rate the source measured', () => {
    let now = 0;
    const out = recorder(false);
    const bar = new ProgressBar(out, 'f', { now: () => now });
    for (let i = 0; i <= 50; i++) {
      now = i * 200;
      bar.update({ bytes: i, size: 50, rate: 5 });
    }
    // 10 s at 200 ms: a line at 0, 2, 4, 6, 8 and 10 s.
    expect(out.text).to.have.length(6);
    for (const t of out.text) expect(t).to.match(/^f \[.*\] .*5 B\/s.*\n$/);
    bar.done({ bytes: 50, size: 50 });
    expect(out.text).to.have.length(7);
    expect(out.text.at(-1)).to.match(/100%.*done\n$/);
  });
});
