package api

import (
	"strings"
	"testing"
)

func TestParseSelector(t *testing.T) {
	web := map[string]string{"app": "web", "tier": "front", "env": "prod"}
	db := map[string]string{"app": "db", "env": "dev"}
	tests := []struct {
		sel          string
		web, db      bool
		wantErr      string
		wantEmpty    bool
		wantCanonStr string
	}{
		{sel: "", web: true, db: true, wantEmpty: true},
		{sel: "app=web", web: true, wantCanonStr: "app=web"},
		{sel: "app==web", web: true, wantCanonStr: "app==web"},
		{sel: "app!=web", db: true},
		{sel: "app=web,env=dev"},
		{sel: "env in (prod,dev)", web: true, db: true},
		{sel: "env notin (prod)", db: true},
		{sel: "tier", web: true},
		{sel: "!tier", db: true},
		{sel: "app in (web), !canary", web: true},
		{sel: "app=", wantErr: ""}, // empty value is valid and matches only app=""
		{sel: "app in (web", wantErr: `label selector "app in (web": `},
		{sel: "-bad=x", wantErr: `label selector "-bad=x": `},
		{sel: "app=we b", wantErr: `label selector "app=we b": `},
	}
	for _, tt := range tests {
		t.Run(tt.sel, func(t *testing.T) {
			sel, err := ParseSelector(tt.sel)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want prefix %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := sel.Matches(web); got != tt.web {
				t.Errorf("Matches(web) = %v, want %v", got, tt.web)
			}
			if got := sel.Matches(db); got != tt.db {
				t.Errorf("Matches(db) = %v, want %v", got, tt.db)
			}
			if sel.Empty() != tt.wantEmpty {
				t.Errorf("Empty() = %v", sel.Empty())
			}
			if tt.wantCanonStr != "" && sel.String() != tt.wantCanonStr {
				t.Errorf("String() = %q, want %q", sel.String(), tt.wantCanonStr)
			}
		})
	}
}

func TestSelectorFromLabelSelector(t *testing.T) {
	pod := map[string]string{"app": "web", "env": "prod"}
	tests := []struct {
		name    string
		ls      *LabelSelector
		match   bool
		str     string
		wantErr string
	}{
		{name: "nil matches nothing", ls: nil, match: false},
		{name: "empty matches everything", ls: &LabelSelector{}, match: true},
		{name: "matchLabels", ls: &LabelSelector{MatchLabels: map[string]string{"app": "web"}}, match: true, str: "app=web"},
		{name: "matchLabels miss", ls: &LabelSelector{MatchLabels: map[string]string{"app": "db"}}, match: false},
		{name: "In", ls: &LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "env", Operator: "In", Values: []string{"prod", "dev"}}}}, match: true, str: "env in (dev,prod)"},
		{name: "NotIn", ls: &LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "env", Operator: "NotIn", Values: []string{"prod"}}}}, match: false},
		{name: "Exists", ls: &LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "app", Operator: "Exists"}}}, match: true, str: "app"},
		{name: "DoesNotExist", ls: &LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "app", Operator: "DoesNotExist"}}}, match: false, str: "!app"},
		{name: "labels AND expressions", ls: &LabelSelector{MatchLabels: map[string]string{"app": "web"}, MatchExpressions: []LabelSelectorRequirement{{Key: "env", Operator: "NotIn", Values: []string{"prod"}}}}, match: false},
		{name: "bad operator", ls: &LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "a", Operator: "Equals"}}},
			wantErr: `label selector: matchExpressions[0].operator: Unsupported value: "Equals": supported values: "In", "NotIn", "Exists", "DoesNotExist"`},
		{name: "In without values", ls: &LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "a", Operator: "In"}}},
			wantErr: "label selector: matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'"},
		{name: "Exists with values", ls: &LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "a", Operator: "Exists", Values: []string{"x"}}}},
			wantErr: "label selector: matchExpressions[0].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sel, err := SelectorFromLabelSelector(tt.ls)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error = %v\nwant    %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := sel.Matches(pod); got != tt.match {
				t.Errorf("Matches = %v, want %v", got, tt.match)
			}
			if tt.str != "" && sel.String() != tt.str {
				t.Errorf("String() = %q, want %q", sel.String(), tt.str)
			}
			if tt.str != "" && LabelSelectorString(tt.ls) != tt.str {
				t.Errorf("LabelSelectorString = %q, want %q", LabelSelectorString(tt.ls), tt.str)
			}
		})
	}
}

func TestSelectorFromSetAndEverything(t *testing.T) {
	if !Everything().Matches(nil) || !Everything().Empty() {
		t.Error("Everything must match an empty set and be empty")
	}
	if Nothing().Matches(map[string]string{}) {
		t.Error("Nothing must match nothing")
	}
	s := SelectorFromSet(map[string]string{"b": "2", "a": "1"})
	if s.String() != "a=1,b=2" {
		t.Errorf("String() = %q", s.String())
	}
	if !s.Matches(map[string]string{"a": "1", "b": "2", "c": "3"}) || s.Matches(map[string]string{"a": "1"}) {
		t.Error("SelectorFromSet must require every pair")
	}
	if !SelectorFromSet(nil).Matches(map[string]string{"x": "y"}) {
		t.Error("nil set must select everything")
	}
}
