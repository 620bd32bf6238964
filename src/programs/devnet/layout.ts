/**
 * The devnet's genesis: a chain config, its epoch-0 committee, and one `NodeConfig` per node — V
 * validators on consecutive loopback ports (each knows the other validators) and F full nodes that know
 * only validator 0 as their seed. Also what the `genesis` command writes for a local network.
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { toHex } from "../../domain/bytes.js"
import { peerIdFromPublicKey, type PeerId } from "../../domain/PeerId.js"
import { ChainGenerator, type ChainConfig } from "../../testkit/chain.js"
import { deriveSeed, TestSigner } from "../../testkit/keys.js"
import { genesisFromChain } from "../../testkit/executorGenesis.js"
import { encodeNodeConfig, type NodeConfig } from "../node/NodeConfig.js"
import { devnetAddress } from "./producer.js"


/** Inbound connections a devnet node accepts from 127.0.0.1 (the transport's default total cap). */
const DEVNET_INBOUND_CONNECTIONS_PER_ADDRESS = 512
/** Shape of a local network. */
export interface DevnetLayout {
  readonly validators: number
  readonly fullnodes: number
  readonly basePort: number
  readonly dir: string
  readonly plaintext: boolean
  readonly seed: number
  readonly commitsPerEpoch: number
  readonly transactionsPerBlock: number
}

/** One node of the devnet. */
export interface DevnetNode {
  readonly name: string
  readonly role: "Validator" | "FullNode"
  readonly peerId: PeerId
  readonly address: string
  readonly metricsPort: number
  readonly config: NodeConfig
  readonly configFile: string
}

/** Metrics ports sit this far above the node's gRPC port. */
const METRICS_PORT_OFFSET = 1_000

/** The chain, committee and node configurations of a layout (nothing is written). */
export const devnetGenesis = (layout: DevnetLayout) => {
  const address = (i: number) => devnetAddress(layout.basePort, i)
  const chain: ChainConfig = {
    seed: layout.seed,
    validators: layout.validators,
    commitsPerEpoch: layout.commitsPerEpoch,
    transactionsPerBlock: layout.transactionsPerBlock,
    validatorAddress: address
  }
  const generator = new ChainGenerator(chain)
  const committee = generator.committee(0)
  const genesis = genesisFromChain(generator)
  const validatorPeers = Array.from({ length: layout.validators }, (_, i) => ({
    peerId: peerIdFromPublicKey(generator.networkSigner(i).publicKey),
    address: address(i)
  }))
  const node = (i: number, role: "Validator" | "FullNode", seed: Uint8Array, protocolKey: Uint8Array | undefined): DevnetNode => {
    const name = role === "Validator" ? `validator-${i}` : `fullnode-${i - layout.validators}`
    const storagePath = join(layout.dir, name, "store")
    const config: NodeConfig = {
      name,
      role,
      networkKey: toHex(seed),
      ...(protocolKey !== undefined ? { protocolKey: toHex(protocolKey) } : {}),
      listenAddress: address(i),
      externalAddress: address(i),
      seedPeers: role === "Validator" ? validatorPeers.filter((_, j) => j !== i) : validatorPeers.slice(0, 1),
      allowlistedPeers: [],
      storagePath,
      genesisCommittee: committee,
      genesisBalances: genesis.balances.map(([account, balance]) => ({ account, balance })),
      metricsPort: layout.basePort + METRICS_PORT_OFFSET + i,
      plaintext: layout.plaintext,
      logLevel: "info",
      discovery: {},
      sync: {},
      // Every devnet node dials from 127.0.0.1: one address is the whole network here, so the
      // per-address inbound cap (meant for one host or NAT on the internet) is lifted to the total cap.
      limits: { maxInboundConnectionsPerAddress: DEVNET_INBOUND_CONNECTIONS_PER_ADDRESS }
    }
    return {
      name,
      role,
      peerId: peerIdFromPublicKey(new TestSigner(seed).publicKey),
      address: address(i),
      metricsPort: layout.basePort + METRICS_PORT_OFFSET + i,
      config,
      configFile: join(layout.dir, `${name}.json`)
    }
  }
  const nodes: Array<DevnetNode> = [
    ...Array.from({ length: layout.validators }, (_, i) => node(i, "Validator", generator.networkSigner(i).seed, generator.protocolSigner(0, i).seed)),
    ...Array.from({ length: layout.fullnodes }, (_, j) => node(layout.validators + j, "FullNode", deriveSeed("devnet-fullnode", layout.seed, j), undefined))
  ]
  return { chain, committee, nodes }
}

/** Writes each node's configuration file (and creates its storage folder's parent). */
export const writeDevnetConfigs = (nodes: ReadonlyArray<DevnetNode>): void => {
  for (const n of nodes) {
    mkdirSync(join(n.config.storagePath, ".."), { recursive: true })
    writeFileSync(n.configFile, JSON.stringify(encodeNodeConfig(n.config), null, 2))
  }
}
