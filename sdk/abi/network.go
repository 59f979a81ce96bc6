package abi

import (
	"encoding/json"
	"fmt"

	"github.com/skiff-sh/skiff/sdk/network"
)

// A network plan is computed when a peer joins, changes or leaves, and its
// input and plan are a few kilobytes per hundred peers, so network.v1
// travels as JSON: one reflection decode per plan costs a Go guest
// milliseconds at most, and the contract's JSON tags are its encoding.

// PutNetworkInput encodes an OpPlan request payload.
func (w *Writer) PutNetworkInput(in *network.Input) error {
	b, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("abi: encoding network input: %w", err)
	}
	w.Bytes(b)
	return nil
}

// NetworkInput decodes what PutNetworkInput wrote.
func (r *Reader) NetworkInput() (network.Input, error) {
	var in network.Input
	b := r.take(r.Len(0))
	if err := r.Err(); err != nil {
		return in, err
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return in, fmt.Errorf("abi: decoding network input: %w", err)
	}
	return in, nil
}

// PutNetworkPlan encodes an OpPlan result.
func (w *Writer) PutNetworkPlan(p *network.Plan) error {
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("abi: encoding network plan: %w", err)
	}
	w.Bytes(b)
	return nil
}

// NetworkPlan decodes what PutNetworkPlan wrote.
func (r *Reader) NetworkPlan() (network.Plan, error) {
	var p network.Plan
	b := r.take(r.Len(0))
	if err := r.Err(); err != nil {
		return p, err
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("abi: decoding network plan: %w", err)
	}
	return p, nil
}
