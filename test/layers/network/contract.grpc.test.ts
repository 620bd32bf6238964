import { networkContract } from "./contract.js"
import { grpcHarness } from "./harness.js"

networkContract("GrpcNetworkLayer (TLS)", grpcHarness({ plaintext: false }))
networkContract("GrpcNetworkLayer (plaintext)", grpcHarness({ plaintext: true }))
