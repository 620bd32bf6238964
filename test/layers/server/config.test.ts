/** `P2pServerConfig`: defaults apply, overrides are validated, a bad one is a typed error. */
import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { defaultP2pServerConfig, resolveP2pServerConfig } from "../../../src/layers/server/config.js"

describe("P2pServerConfig", () => {
  it("overrides replace defaults; nonsense is refused with the field named", () => {
    expect(resolveP2pServerConfig({ burst: 7 })).toEqual(Either.right({ ...defaultP2pServerConfig, burst: 7 }))
    for (const bad of [{ ratePerSecond: 0 }, { burst: 1.5 }, { handlerTimeoutMs: -1 }, { maxTrackedPeers: 0 }] as const) {
      const resolved = resolveP2pServerConfig(bad)
      expect(Either.isLeft(resolved) && resolved.left._tag === "InvalidP2pServerConfig" && resolved.left.detail.includes(Object.keys(bad)[0] ?? "?")).toBe(true)
    }
  })
})
