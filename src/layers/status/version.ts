/** The version of this build, from `package.json` (what `/status` and `soma-p2p --version` report). */
import packageJson from "../../../package.json" with { type: "json" }

/** soma-p2p's version, e.g. `0.1.0`. */
export const SOMA_P2P_VERSION: string = packageJson.version
