package apiserver

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/skiff-sh/skiff/core/client"
	"github.com/skiff-sh/skiff/core/store"
)

func leafOf(t *testing.T, dir string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "pki", "server.crt"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestPKIReusedAcrossRestartsAndClientConfigWritten(t *testing.T) {
	dir := t.TempDir()
	userConfig := filepath.Join(t.TempDir(), "config")
	t.Setenv("SKIFF_CONFIG", userConfig)
	st := store.NewEtcd(testEtcd.Client(), "/apiserver-test/pki")
	defer st.Close()
	start := func(extra ...string) *Server {
		s, err := New(Config{Store: st, DataDir: dir, Listen: "127.0.0.1:0", ExtraSANs: extra})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		return s
	}
	first := start()
	cert1 := leafOf(t, dir)
	for _, san := range []string{"localhost"} {
		if !slices.Contains(cert1.DNSNames, san) {
			t.Fatalf("serving cert lacks SAN %s: %v", san, cert1.DNSNames)
		}
	}
	if len(cert1.IPAddresses) < 2 || cert1.NotAfter.Sub(time.Now()) < 360*24*time.Hour {
		t.Fatalf("serving cert: IPs %v, expires %v", cert1.IPAddresses, cert1.NotAfter)
	}
	for _, f := range []string{"pki/ca.key", "pki/server.key", "tokens.yaml", "admin.conf"} {
		info, err := os.Stat(filepath.Join(dir, f))
		if err != nil || info.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v, mode %v (want 0600)", f, err, info.Mode().Perm())
		}
	}
	admin, err := client.LoadConfig(filepath.Join(dir, "admin.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if admin.Server != first.URL() || len(admin.Token) != 64 || admin.CertificateAuthorityData != string(first.CAPEM()) {
		t.Fatalf("admin.conf: %+v", admin)
	}
	if user, err := client.LoadConfig(userConfig); err != nil || user.Token != admin.Token {
		t.Fatalf("user config not written on first start: %v", err)
	}

	// A restart reuses the CA, certificate and token; the user config,
	// once written, is left alone.
	os.WriteFile(userConfig, []byte("server: https://elsewhere:6443\n"), 0o600)
	second := start()
	if cert2 := leafOf(t, dir); !cert2.Equal(cert1) {
		t.Fatal("serving certificate re-issued on restart with the same SANs")
	}
	if string(second.CAPEM()) != string(first.CAPEM()) || second.ClientConfig().Token != admin.Token {
		t.Fatal("CA or admin token changed on restart")
	}
	if user, _ := client.LoadConfig(userConfig); user.Server != "https://elsewhere:6443" {
		t.Fatal("existing user config was overwritten")
	}

	// New SANs re-issue the certificate under the same CA.
	third := start("10.1.2.3", "skiff.example")
	cert3 := leafOf(t, dir)
	if cert3.Equal(cert1) || !slices.Contains(cert3.DNSNames, "skiff.example") {
		t.Fatalf("certificate not re-issued for new SANs: %v", cert3.DNSNames)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(third.CAPEM())
	if _, err := cert3.Verify(x509.VerifyOptions{Roots: pool, DNSName: "skiff.example"}); err != nil {
		t.Fatalf("re-issued certificate does not verify against the CA: %v", err)
	}
	if _, err := cert3.Verify(x509.VerifyOptions{Roots: pool, DNSName: "10.1.2.3"}); err != nil {
		t.Fatalf("extra IP SAN: %v", err)
	}
}

func TestServingCertRenewedBeforeExpiry(t *testing.T) {
	dir := t.TempDir()
	sans := servingSANs(nil)
	p1, err := loadOrCreatePKI(dir, sans, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// 340 days later the certificate expires within 30 days: re-issued.
	p2, err := loadOrCreatePKI(dir, sans, time.Now().Add(340*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if p2.serving.Leaf.Equal(p1.serving.Leaf) || string(p2.caPEM) != string(p1.caPEM) {
		t.Fatal("near-expiry certificate was not re-issued under the same CA")
	}
}

func TestServesHTTP2(t *testing.T) {
	ts := newTestServer(t)
	resp := ts.send("GET", "/healthz", "", nil, "")
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("protocol %s, want HTTP/2", resp.Proto)
	}
	if resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Fatal("not served over TLS 1.2+")
	}
}
