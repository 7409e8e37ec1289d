/*
 * codec.h - strict Base64 (RFC 4648 section 4, padded) and hex.
 *
 * Validation is ours and strict: only the canonical text an encoder
 * produces decodes, so a malformed signature or secret is refused before
 * it reaches a MAC. The Base64 transforms themselves are OpenSSL's
 * (EVP_DecodeBlock, EVP_EncodeBlock).
 */
#ifndef HS_CODEC_H
#define HS_CODEC_H

#include <stddef.h>

/* The text encodings of a MAC. */
typedef enum { HS_ENC_HEX, HS_ENC_BASE64 } hs_enc;
#define HS_ENC_COUNT 2

/* Base64 text length of n bytes (padded). */
#define HS_CODEC_B64_LEN(n)     ((((n) + 2) / 3) * 4)
/* Worst-case bytes a decode writes for a Base64 text of n characters
 * (EVP_DecodeBlock writes the padding's zero bytes too). */
#define HS_CODEC_B64_DEC_MAX(n) (((n) / 4) * 3)

/* The name of enc as hookspool's settings spell it ("hex", "base64"),
 * or NULL for a value out of range. */
const char *hs_codec_enc_name(hs_enc enc);

/* Can a text enc encodes hold the character c (padding '=' included)?
 * 1 or 0; 0 for an enc out of range. A setting that splits such a text
 * at c would split the MAC itself. */
int hs_codec_enc_holds(hs_enc enc, char c);

/*
 * Strictly decode padded Base64 in[0..inlen) into out[0..outcap).
 * Accepted: a non-empty multiple of 4 characters from the standard
 * alphabet, '=' only as the last one or two characters, and zero unused
 * bits before the padding. outcap must hold HS_CODEC_B64_DEC_MAX(inlen)
 * bytes. Returns 0 with *outlen set to the real decoded length, or -1
 * (out then holds no decoded bytes).
 */
int hs_codec_b64_decode(const char *in, size_t inlen, unsigned char *out,
                        size_t outcap, size_t *outlen);

/*
 * Decode hex in[0..inlen) (either case, no separators) into
 * out[0..outcap). inlen must be even and non-zero and inlen/2 <= outcap.
 * Returns 0 with *outlen set, or -1 (out then holds no decoded bytes).
 */
int hs_codec_hex_decode(const char *in, size_t inlen, unsigned char *out,
                        size_t outcap, size_t *outlen);

/* Lowercase hex of in[0..n) into out, which must hold 2n + 1 bytes
 * (NUL-terminated). */
void hs_codec_hex_encode(const unsigned char *in, size_t n, char *out);

/*
 * Decode text in[0..inlen) that must encode exactly want bytes in enc:
 * the text's length is checked first (2*want hex digits, or
 * HS_CODEC_B64_LEN(want) Base64 characters), then its alphabet. out must
 * hold HS_CODEC_B64_DEC_MAX(HS_CODEC_B64_LEN(want)) bytes. Returns 0, or
 * -1 for the wrong length or alphabet.
 */
int hs_codec_decode_exact(hs_enc enc, const char *in, size_t inlen,
                          size_t want, unsigned char *out, size_t outcap);

/* Encode in[0..n) as enc into out, NUL-terminated; outcap must hold
 * 2n + 1 bytes for hex, HS_CODEC_B64_LEN(n) + 1 for Base64. Returns 0,
 * or -1 on a bad argument (n == 0 included) or too small an outcap. */
int hs_codec_encode(hs_enc enc, const unsigned char *in, size_t n,
                    char *out, size_t outcap);

#endif
