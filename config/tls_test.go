package config_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeCert writes a self-signed certificate and its key as PEM files.
func writeCert(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestMutualTLSFromProjectSettings(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	cert, key := writeCert(t, dir, "worker")
	ca, _ := writeCert(t, dir, "ca")
	t.Setenv("TERMINATION_TEMPORAL_TLS_CA_FILE", ca)
	cfg, err := load(t, "--temporal-address", "temporal.internal:7233", "--temporal-tls-cert", cert, "--temporal-tls-key", key,
		"--temporal-tls-server-name", "temporal.internal")
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Temporal.TLS() {
		t.Fatal("TLS off")
	}
	opts := clientOptions(t, cfg.Temporal)
	tlsCfg := opts.ConnectionOptions.TLS
	if tlsCfg == nil || len(tlsCfg.Certificates) != 1 || tlsCfg.RootCAs == nil || tlsCfg.ServerName != "temporal.internal" {
		t.Fatalf("TLS config = %+v", tlsCfg)
	}
}

func TestAPIKeyFromProjectSettingIsNeverShown(t *testing.T) {
	isolate(t)
	t.Setenv("TERMINATION_TEMPORAL_API_KEY", "tmprl-secret-123")
	cfg, err := load(t, "--temporal-address", "ns.acct.tmprl.cloud:7233")
	if err != nil {
		t.Fatal(err)
	}
	opts := clientOptions(t, cfg.Temporal)
	if opts.Credentials == nil || opts.ConnectionOptions.TLS == nil || !cfg.Temporal.APIKeySet() {
		t.Fatal("an API key must set credentials and turn TLS on")
	}
	// A failing load lists settings, never the key.
	t.Setenv("TERMINATION_LOG_LEVEL", "loud")
	_, err = load(t)
	if err == nil || strings.Contains(err.Error(), "tmprl-secret-123") {
		t.Fatalf("Load = %v", err)
	}
}

func TestBadTLSFilesNameTheKey(t *testing.T) {
	dir := t.TempDir()
	cert, _ := writeCert(t, dir, "worker")
	_, otherKey := writeCert(t, dir, "other")
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"cert without key", []string{"--temporal-tls-cert", cert}, "temporal.tls.cert_file (flag --temporal-tls-cert, env TERMINATION_TEMPORAL_TLS_CERT_FILE): and temporal.tls.key_file go together"},
		{"key of another cert", []string{"--temporal-tls-cert", cert, "--temporal-tls-key", otherKey}, "is not a usable certificate and key"},
		{"missing CA", []string{"--temporal-tls-ca", filepath.Join(dir, "nope.pem")}, "temporal.tls.ca_file (flag --temporal-tls-ca, env TERMINATION_TEMPORAL_TLS_CA_FILE): cannot be read"},
		{"CA not PEM", []string{"--temporal-tls-ca", garbage}, "temporal.tls.ca_file (flag --temporal-tls-ca, env TERMINATION_TEMPORAL_TLS_CA_FILE): holds no PEM certificate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			isolate(t)
			_, err := load(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load = %v; want %q", err, tc.want)
			}
		})
	}
}

// Temporal's own TEMPORAL_TLS_* variables (and its TOML profile) are checked
// at start like the project's settings, and a bad one is named.
func TestBadTemporalTLSVariablesAreNamed(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeCert(t, dir, "worker")
	_, otherKey := writeCert(t, dir, "other")
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "nope.pem")
	certPEM, err := os.ReadFile(cert)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"missing client cert", map[string]string{"TEMPORAL_TLS_CLIENT_CERT_PATH": missing, "TEMPORAL_TLS_CLIENT_KEY_PATH": key},
			"TEMPORAL_TLS_CLIENT_CERT_PATH: cannot be read"},
		{"client cert not PEM", map[string]string{"TEMPORAL_TLS_CLIENT_CERT_PATH": garbage, "TEMPORAL_TLS_CLIENT_KEY_PATH": key},
			"TEMPORAL_TLS_CLIENT_CERT_PATH: holds no PEM certificate"},
		{"missing client key", map[string]string{"TEMPORAL_TLS_CLIENT_CERT_PATH": cert, "TEMPORAL_TLS_CLIENT_KEY_PATH": missing},
			"TEMPORAL_TLS_CLIENT_KEY_PATH: cannot be read"},
		{"cert without key", map[string]string{"TEMPORAL_TLS_CLIENT_CERT_PATH": cert},
			"TEMPORAL_TLS_CLIENT_CERT_PATH: and TEMPORAL_TLS_CLIENT_KEY_PATH go together"},
		{"key of another cert", map[string]string{"TEMPORAL_TLS_CLIENT_CERT_PATH": cert, "TEMPORAL_TLS_CLIENT_KEY_PATH": otherKey},
			"TEMPORAL_TLS_CLIENT_CERT_PATH: with TEMPORAL_TLS_CLIENT_KEY_PATH is not a usable certificate and key"},
		{"cert data not PEM", map[string]string{"TEMPORAL_TLS_CLIENT_CERT_DATA": "garbage", "TEMPORAL_TLS_CLIENT_KEY_DATA": "also garbage"},
			"TEMPORAL_TLS_CLIENT_CERT_DATA: holds no PEM certificate"},
		{"missing CA", map[string]string{"TEMPORAL_TLS_SERVER_CA_CERT_PATH": missing},
			"TEMPORAL_TLS_SERVER_CA_CERT_PATH: cannot be read"},
		{"CA not PEM", map[string]string{"TEMPORAL_TLS_SERVER_CA_CERT_PATH": garbage},
			"TEMPORAL_TLS_SERVER_CA_CERT_PATH: holds no PEM certificate"},
		{"CA data not PEM", map[string]string{"TEMPORAL_TLS_SERVER_CA_CERT_DATA": "garbage"},
			"TEMPORAL_TLS_SERVER_CA_CERT_DATA: holds no PEM certificate"},
		{"CA path and data", map[string]string{"TEMPORAL_TLS_SERVER_CA_CERT_PATH": cert, "TEMPORAL_TLS_SERVER_CA_CERT_DATA": string(certPEM)},
			"cannot have server CA cert path with data"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			isolate(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			_, err := load(t, "--temporal-address", "temporal.internal:7233")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load = %v; want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "also garbage") {
				t.Fatalf("error shows key data: %v", err)
			}
		})
	}

	t.Run("TOML profile", func(t *testing.T) {
		isolate(t)
		toml := filepath.Join(t.TempDir(), "temporal.toml")
		body := "[profile.default]\naddress = \"temporal.internal:7233\"\n[profile.default.tls]\nserver_ca_cert_path = \"" + garbage + "\"\n"
		if err := os.WriteFile(toml, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Setenv("TEMPORAL_CONFIG_FILE", toml)
		_, err := load(t)
		if want := "tls.server_ca_cert_path of the Temporal TOML profile"; err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("Load = %v; want %q", err, want)
		}
	})

	// Good files load, and a project setting replaces a bad Temporal variable.
	t.Run("good", func(t *testing.T) {
		isolate(t)
		t.Setenv("TEMPORAL_TLS_CLIENT_CERT_PATH", cert)
		t.Setenv("TEMPORAL_TLS_CLIENT_KEY_PATH", key)
		t.Setenv("TEMPORAL_TLS_SERVER_CA_CERT_PATH", garbage)
		cfg, err := load(t, "--temporal-address", "temporal.internal:7233", "--temporal-tls-ca", cert)
		if err != nil {
			t.Fatal(err)
		}
		opts := clientOptions(t, cfg.Temporal)
		if tlsCfg := opts.ConnectionOptions.TLS; tlsCfg == nil || len(tlsCfg.Certificates) != 1 || tlsCfg.RootCAs == nil {
			t.Fatalf("TLS config = %+v", tlsCfg)
		}
	})
}
