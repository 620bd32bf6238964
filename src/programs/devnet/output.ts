/**
 * Where the devnet writes on its own stdout: JSON events with `--json` (for scripts and tests), lines for
 * people otherwise — one of the two, never both, so `--json` output stays parseable line by line.
 */

/** Where the devnet writes: JSON events (`--json`) or lines for people. */
export interface Output {
  readonly emit: (event: Record<string, unknown>) => void
  readonly say: (line: string) => void
  /** Lines for people on a terminal: the progress is one status line rewritten in place. */
  readonly tty: boolean
}

/** The output of a devnet run with or without `--json`. */
export const devnetOutput = (json: boolean): Output => ({
  emit: (event) => {
    if (json) process.stdout.write(JSON.stringify(event) + "\n")
  },
  say: (line) => {
    if (!json) process.stdout.write(line + "\n")
  },
  tty: !json && process.stdout.isTTY === true
})
