/** The executor's genesis for a generated chain (tests, the devnet, benchmarks). */
import type { ExecutorGenesis } from "../services/CommitExecutor.js"
import { GENESIS_ACCOUNT_BALANCE, type ChainGenerator } from "./chain.js"

/** Every generated account starts with `balance` (default `GENESIS_ACCOUNT_BALANCE`). */
export const genesisFromChain = (chain: ChainGenerator, balance: number = GENESIS_ACCOUNT_BALANCE): ExecutorGenesis => ({
  committee: chain.committee(0),
  balances: Array.from({ length: chain.accountCount }, (_, i) => [chain.accountSigner(i).publicKey, balance] as const)
})
