import { MemoryStoreLayer } from "../../../src/layers/store/MemoryStoreLayer.js"
import { storeContract } from "./storeContract.js"

storeContract("memory", () => MemoryStoreLayer)
