/**
 * libsodium sealed boxes (X25519 + XSalsa20-Poly1305, anonymous sender), the encryption GitHub requires
 * for Actions, Dependabot and Codespaces secrets: the value is sealed with the target's public key and
 * only GitHub, which holds the private key, can open it.
 */

/** Seals `plaintext` for the holder of `publicKeyBase64` (standard base64, as GitHub's public-key endpoints give it). */
export async function sealForGitHub(publicKeyBase64: string, plaintext: string): Promise<string> {
  // Loaded on first use, as every provider's SDK is (eslint.config.js says why).
  const { default: sodium } = await import('libsodium-wrappers');
  await sodium.ready;
  let publicKey: Uint8Array;
  try {
    publicKey = sodium.from_base64(publicKeyBase64, sodium.base64_variants.ORIGINAL);
  } catch {
    throw new Error('public key is not standard base64');
  }
  if (publicKey.length !== sodium.crypto_box_PUBLICKEYBYTES) {
    throw new Error(`public key has ${publicKey.length} bytes, expected ${sodium.crypto_box_PUBLICKEYBYTES} (X25519)`);
  }
  const sealed = sodium.crypto_box_seal(sodium.from_string(plaintext), publicKey);
  return sodium.to_base64(sealed, sodium.base64_variants.ORIGINAL);
}
