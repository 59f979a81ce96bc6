package app

import (
	"reflect"
	"testing"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
)

const documentedConfig = "../../../conf/skiffd.yaml"

// The shipped config documents every key: it must load without unknown keys,
// and every field of Config must appear in it.
func TestShippedConfigDocumentsEveryKey(t *testing.T) {
	cmd := newServerCommand()
	if _, err := loadConfig(documentedConfig, cmd.Flags()); err != nil {
		t.Fatalf("conf/skiffd.yaml does not load: %v", err)
	}
	k := koanf.New(".")
	if err := k.Load(file.Provider(documentedConfig), yaml.Parser()); err != nil {
		t.Fatal(err)
	}
	for _, key := range configKeys(reflect.TypeOf(Config{}), "") {
		if !k.Exists(key) {
			t.Errorf("conf/skiffd.yaml does not document %q", key)
		}
	}
}

// configKeys lists the dotted koanf keys of the leaf fields of a config struct.
func configKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		key := prefix + f.Tag.Get("koanf")
		if f.Type.Kind() == reflect.Struct {
			keys = append(keys, configKeys(f.Type, key+".")...)
			continue
		}
		keys = append(keys, key)
	}
	return keys
}
