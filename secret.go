package shipgate

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// SecretBox encrypts secret release inputs at rest (AES-256-GCM, the input
// name bound as additional data) and fingerprints them for release digests
// (HMAC-SHA256), both under one server key.
type SecretBox struct {
	aead   cipher.AEAD
	macKey []byte
}

// SecretKeySize is the length of the server's secret key in bytes.
const SecretKeySize = 32

// NewSecretBox builds a box from a 32-byte key.
func NewSecretBox(key []byte) (*SecretBox, error) {
	if len(key) != SecretKeySize {
		return nil, fmt.Errorf("secret key must be %d bytes, not %d", SecretKeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("shipgate fingerprint key"))
	return &SecretBox{aead: aead, macKey: mac.Sum(nil)}, nil
}

// Seal encrypts value; the result is nonce ‖ ciphertext.
func (b *SecretBox) Seal(name, value string) []byte {
	nonce := make([]byte, b.aead.NonceSize())
	rand.Read(nonce)
	return b.aead.Seal(nonce, nonce, []byte(value), []byte(name))
}

// Open decrypts what Seal produced for the same name.
func (b *SecretBox) Open(name string, sealed []byte) (string, error) {
	n := b.aead.NonceSize()
	if len(sealed) < n {
		return "", fmt.Errorf("sealed secret %q is truncated", name)
	}
	plain, err := b.aead.Open(nil, sealed[:n], sealed[n:], []byte(name))
	if err != nil {
		return "", fmt.Errorf("secret %q cannot be decrypted with this server's key", name)
	}
	return string(plain), nil
}

// KeyID names the key: a keyed fingerprint of a fixed string, equal for
// equal keys and useless for guessing the key. Servers sharing a database
// compare it (sqlstore.DB.SharedKey).
func (b *SecretBox) KeyID() string {
	return b.Fingerprint("shipgate.key-id", "")[:len("hmac-sha256:")+16]
}

// Fingerprint is a keyed hash of a secret input: equal for equal values,
// useless for guessing them without the key.
func (b *SecretBox) Fingerprint(name, value string) string {
	mac := hmac.New(sha256.New, b.macKey)
	mac.Write([]byte(name))
	mac.Write([]byte{0})
	mac.Write([]byte(value))
	return "hmac-sha256:" + hex.EncodeToString(mac.Sum(nil))
}
