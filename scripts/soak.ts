/** `npm run soak`: longer chaos runs, several seeds (src/testkit/chaos/soak.ts; `npm run soak -- --help`). */
import { soakMain } from "../src/testkit/chaos/soak.js"

soakMain(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`soak: ${error instanceof Error ? error.message : String(error)}\n`)
    process.exit(2)
  }
)
