//go:build wasip1

package guest

import (
	"context"
	"errors"
	"runtime"
	"unsafe"

	"github.com/skiff-sh/skiff/sdk/abi"
)

var (
	input  []byte     // written by the host between skiff_malloc and skiff_call
	output abi.Writer // read by the host after skiff_call; reused
)

//go:wasmexport skiff_abi_version
func abiVersion() uint32 { return ABIVersion }

// skiffMalloc returns the address of a guest buffer of size bytes for the
// next requests: the host may send any request of up to size bytes there
// until it calls skiff_malloc again. The buffer is reused across calls, so
// the steady state allocates nothing.
//
//go:wasmexport skiff_malloc
func skiffMalloc(size uint32) uint32 {
	if uint32(cap(input)) < size {
		input = make([]byte, size+size/4)
	}
	input = input[:size]
	return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(input))))
}

// skiffCall handles the request of size bytes in the input buffer and
// returns the response's address (high 32 bits) and length (low 32 bits).
//
//go:wasmexport skiff_call
func skiffCall(size uint32) uint64 {
	if dispatcher == nil {
		output.Reset()
		output.U8(uint8(abi.StatusError))
		output.Str(errors.New("the module registered no plugin: call guest.Register from an init function").Error())
	} else if int(size) > len(input) {
		output.Reset()
		output.U8(uint8(abi.StatusError))
		output.Str("request larger than the buffer skiff_malloc returned")
	} else {
		dispatcher.Handle(context.Background(), input[:size], &output)
		if size > 0 && abi.Op(input[0]) == abi.OpSync {
			// The table just decoded started a collection cycle. A guest
			// never idles, so the collector's background worker never
			// runs and the cycle would linger in its mark phase for
			// thousands of calls, every allocation paying an assist and
			// every pointer write a barrier (~2x the fixed cost of a
			// call). Finish it now, under the sync's timeout.
			runtime.GC()
		}
	}
	ptr := uint64(uintptr(unsafe.Pointer(unsafe.SliceData(output.Buf))))
	return ptr<<32 | uint64(len(output.Buf))
}
