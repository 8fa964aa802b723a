/**
 * Branded digest types. Every digest in stratum is a lower-case hex string, but they
 * address different things and must never be mixed up: a layer digest is not a chain
 * digest, and a step key is not a blob name. The brand makes the compiler check that.
 */
declare const brand: unique symbol;
type Brand<T, B extends string> = T & { readonly [brand]: B };

/** sha256 (64 hex) of a file's bytes: the name of a blob in the store. Not an OCI blob
 *  digest, which is the sha256 of a whole (compressed) layer tar; the same algorithm over
 *  different bytes. */
export type BlobDigest = Brand<string, 'BlobDigest'>;
/** sha256 of a layer's canonical entry list (not its OCI diffID: the tar's sha256). */
export type LayerDigest = Brand<string, 'LayerDigest'>;
/** sha256 of (chain below, layer digest), as OCI's ChainID; the empty chain has EMPTY_CHAIN. */
export type ChainDigest = Brand<string, 'ChainDigest'>;
/** sha256 of a step's canonical key record. */
export type StepKey = Brand<string, 'StepKey'>;
/** sha256 hex of bytes that leave the machine as they are (OCI blobs: tars, gzip, JSON). */
export type Sha256Digest = Brand<string, 'Sha256Digest'>;

export const asBlobDigest = (s: string) => s as BlobDigest;
export const asLayerDigest = (s: string) => s as LayerDigest;
export const asChainDigest = (s: string) => s as ChainDigest;
export const asStepKey = (s: string) => s as StepKey;
export const asSha256 = (s: string) => s as Sha256Digest;

/** The chain digest of no layers at all (FROM scratch): 64 zeros. */
export const EMPTY_CHAIN = '0'.repeat(64) as ChainDigest;

const HEX64 = /^[0-9a-f]{64}$/;
/** True when `s` looks like one of our digests (sha256, 64 lower-case hex): used to validate
 *  names read from disk and digests read from records. */
export function isDigestHex(s: string): boolean {
  return HEX64.test(s);
}
