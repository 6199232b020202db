/** Where a CLI command writes: stdout and stderr in the executable, arrays in tests. */
export interface CliIo {
  out(line: string): void;
  err(line: string): void;
}
