import { networkContract } from "./contract.js"
import { simHarness } from "./harness.js"

networkContract("SimNetworkLayer", simHarness())
