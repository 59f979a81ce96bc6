package store

import (
	"context"
	"strings"
	"testing"

	"github.com/skiff-sh/skiff/core/api"
)

func TestEmbeddedDataSurvivesRestart(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	cms := resource(t, "ConfigMap")

	first, err := StartEmbedded(ctx, EmbeddedConfig{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if eps := first.Endpoints(); len(eps) != 1 || !strings.HasPrefix(eps[0], "http://127.0.0.1:") {
		t.Errorf("endpoints %v, want one loopback URL", eps)
	}
	created, err := NewEtcd(first.Client(), "/skiff").Create(ctx, configMap("default", "kept", nil, map[string]string{"k": "v"}))
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := first.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}

	second, err := StartEmbedded(ctx, EmbeddedConfig{DataDir: dir})
	if err != nil {
		t.Fatalf("restart on the same directory: %v", err)
	}
	defer second.Close()
	got, err := NewEtcd(second.Client(), "/skiff").Get(ctx, cms, "default", "kept")
	if err != nil {
		t.Fatalf("get after restart: %v", err)
	}
	if got.GetObjectMeta().UID != created.GetObjectMeta().UID || got.(*api.ConfigMap).Data["k"] != "v" ||
		got.GetObjectMeta().ResourceVersion != created.GetObjectMeta().ResourceVersion {
		t.Errorf("after restart: %+v, want %+v", got, created)
	}
}

func TestEmbeddedConfigErrors(t *testing.T) {
	if _, err := StartEmbedded(context.Background(), EmbeddedConfig{}); err == nil || !strings.Contains(err.Error(), "DataDir") {
		t.Errorf("no data dir: %v, want an error naming DataDir", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := StartEmbedded(ctx, EmbeddedConfig{DataDir: t.TempDir()}); err == nil {
		t.Error("start with a cancelled context succeeded")
	}
}
