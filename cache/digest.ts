/**
 * Branded digest types. Every digest in stratum is a lower-case hex string, but they
 * address different things and must never be mixed up: a layer digest is not a chain
 * digest, and a step key is not a blob name. The brand makes the compiler check that.
 */
declare const brand: unique symbol;
type Brand<T, B extends string> = T & { readonly [brand]: B };

/** xxh64 (16 hex) of a file's bytes: the name of a blob in the store. */
export type BlobDigest = Brand<string, 'BlobDigest'>;
/** xxh64 of a layer's canonical entry list. */
export type LayerDigest = Brand<string, 'LayerDigest'>;
/** H(chain below, layer digest), as OCI's ChainID; the empty chain has EMPTY_CHAIN. */
export type ChainDigest = Brand<string, 'ChainDigest'>;
/** xxh64 of a step's canonical key record. */
export type StepKey = Brand<string, 'StepKey'>;
/** sha256 hex, for what leaves the machine (OCI export, registries). */
export type Sha256Digest = Brand<string, 'Sha256Digest'>;

export const asBlobDigest = (s: string) => s as BlobDigest;
export const asLayerDigest = (s: string) => s as LayerDigest;
export const asChainDigest = (s: string) => s as ChainDigest;
export const asStepKey = (s: string) => s as StepKey;
export const asSha256 = (s: string) => s as Sha256Digest;

/** The chain digest of no layers at all (FROM scratch). */
export const EMPTY_CHAIN = '0000000000000000' as ChainDigest;

const HEX16 = /^[0-9a-f]{16}$/;
/** True when `s` looks like one of our 64-bit digests (used to validate names read from disk). */
export function isHex16(s: string): boolean {
  return HEX16.test(s);
}
