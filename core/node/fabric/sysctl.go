package fabric

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The state file records the value each sysctl had before the fabric
// changed it; only those are restored, so a host that forwarded packets
// before skiff still does after a teardown.
const stateFile = "sysctls.json"

func (f *Fabric) loadSysctlState() (map[string]string, error) {
	raw, err := os.ReadFile(filepath.Join(f.cfg.StateDir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sysctl state: %w", err)
	}
	out := map[string]string{}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("sysctl state %s: %w; delete it if the fabric was torn down by hand", filepath.Join(f.cfg.StateDir, stateFile), err)
	}
	return out, nil
}

func (f *Fabric) saveSysctlState(state map[string]string) error {
	path := filepath.Join(f.cfg.StateDir, stateFile)
	if len(state) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("sysctl state: %w", err)
		}
		return nil
	}
	raw, _ := json.Marshal(state)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o644); err != nil {
		return fmt.Errorf("sysctl state: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("sysctl state: %w", err)
	}
	return nil
}

func readSysctl(key string) (string, error) {
	raw, err := os.ReadFile(filepath.Join("/proc/sys", key))
	if err != nil {
		return "", fmt.Errorf("sysctl %s: %w", key, err)
	}
	return strings.TrimSpace(string(raw)), nil
}

func writeSysctl(key, value string) error {
	if err := os.WriteFile(filepath.Join("/proc/sys", key), []byte(value), 0o644); err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", key, value, err)
	}
	return nil
}

// syncSysctls sets the planned sysctls, recording original values first,
// and restores those no longer planned.
func (f *Fabric) syncSysctls(d *desired, ch *Changes) error {
	state, err := f.loadSysctlState()
	if err != nil {
		return err
	}
	var errs []error
	for key, value := range d.sysctls {
		cur, err := readSysctl(key)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if cur == value {
			continue
		}
		if _, recorded := state[key]; !recorded {
			state[key] = cur
			if err := f.saveSysctlState(state); err != nil {
				return err // never change a value whose original is not on disk
			}
		}
		if err := writeSysctl(key, value); err != nil {
			errs = append(errs, err)
			continue
		}
		ch.add("set sysctl %s=%s (was %s)", key, value, cur)
	}
	for key, orig := range state {
		if _, planned := d.sysctls[key]; planned {
			continue
		}
		if err := writeSysctl(key, orig); err != nil {
			errs = append(errs, err)
			continue
		}
		delete(state, key)
		ch.add("restore sysctl %s=%s", key, orig)
	}
	return errors.Join(append(errs, f.saveSysctlState(state))...)
}

func (f *Fabric) restoreSysctls(ch *Changes) error {
	return f.syncSysctls(&desired{}, ch)
}
