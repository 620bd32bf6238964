/**
 * The relay process's program as one plain JavaScript file, built once per source version. A chaos run
 * starts a dozen links at once on a 2-core machine: through `--import tsx` each relay process compiled
 * the TypeScript again (≈ 1 s of CPU each, 30 s for 16 under load); from this bundle a relay starts in
 * ≈ 50 ms. The bundle lives in the system temp folder, named by a hash of the link sources, and is
 * written to a temporary name then renamed, so concurrent test workers never see a half-written file.
 */
import { createHash } from "node:crypto"
import { existsSync, readdirSync, readFileSync, renameSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { build } from "esbuild"

const sourceDir = fileURLToPath(new URL(".", import.meta.url))

let built: Promise<string> | undefined

/** The path of the bundled relay program (built on the first call of this process if not cached). */
export const relayProgram = (): Promise<string> => {
  built ??= (async () => {
    const hash = createHash("sha256")
    for (const file of readdirSync(sourceDir).filter((f) => f.endsWith(".ts")).sort()) hash.update(file).update(readFileSync(join(sourceDir, file)))
    const out = join(tmpdir(), `soma-link-relay-${hash.digest("hex").slice(0, 16)}.mjs`)
    if (existsSync(out)) return out
    const partial = `${out}.${process.pid}.tmp`
    await build({
      entryPoints: [join(sourceDir, "linkProcess.ts")],
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      outfile: partial,
      logLevel: "silent"
    })
    renameSync(partial, out)
    return out
  })()
  return built
}
