package client

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
)

// eventReader reads a watch stream. Servers (skiff's and Kubernetes') write
// one event per line as {"type":"<TYPE>","object":<object>}; such a line is
// split by hand, so the object's JSON is scanned once, by the decode that
// follows, instead of three times (the stream decoder, the event, the
// object). Anything else goes through encoding/json's stream decoder, which
// accepts any layout.
type eventReader struct {
	in      *bufio.Reader
	line    []byte
	decoder *json.Decoder // once a line did not take the fast path
}

func newEventReader(r io.Reader) *eventReader {
	return &eventReader{in: bufio.NewReaderSize(r, 64<<10)}
}

var (
	eventTypePrefix = []byte(`{"type":"`)
	eventObjectKey  = []byte(`","object":`)
)

// next returns the next event. Its Object aliases the reader's buffer until
// the next call.
func (r *eventReader) next() (wireEvent, error) {
	var we wireEvent
	if r.decoder != nil {
		err := r.decoder.Decode(&we)
		return we, err
	}
	line, err := r.readLine()
	if err != nil {
		return we, err
	}
	if typ, obj, ok := splitEventLine(line); ok {
		return wireEvent{Type: EventType(typ), Object: obj, line: line}, nil
	}
	return r.reread(line)
}

// reread hands the rest of the stream, line included, to the stream
// decoder, for good: the stream is not one compact event per line (or the
// hand split of line was fooled, which its decode found out).
func (r *eventReader) reread(line []byte) (wireEvent, error) {
	r.decoder = json.NewDecoder(io.MultiReader(bytes.NewReader(bytes.Clone(line)), r.in))
	var we wireEvent
	err := r.decoder.Decode(&we)
	return we, err
}

// readLine returns the next non-blank line, without its newline. It aliases
// the reader's buffers until the next call.
func (r *eventReader) readLine() ([]byte, error) {
	for {
		chunk, err := r.in.ReadSlice('\n')
		line := chunk
		if err == bufio.ErrBufferFull { // a long line: gather it
			r.line = append(r.line[:0], chunk...)
			for err == bufio.ErrBufferFull {
				chunk, err = r.in.ReadSlice('\n')
				r.line = append(r.line, chunk...)
			}
			line = r.line
		}
		line = bytes.TrimSpace(line)
		if err != nil && (err != io.EOF || len(line) == 0) {
			return nil, err
		}
		if len(line) > 0 {
			return line, nil
		}
	}
}

// splitEventLine takes {"type":"T","object":O} apart; O is returned as is,
// for the object decode to validate.
func splitEventLine(line []byte) (typ string, obj []byte, ok bool) {
	rest, found := bytes.CutPrefix(line, eventTypePrefix)
	if !found {
		return "", nil, false
	}
	i := bytes.IndexByte(rest, '"')
	if i < 0 || bytes.IndexByte(rest[:i], '\\') >= 0 {
		return "", nil, false
	}
	typ, rest = string(rest[:i]), rest[i:]
	if rest, found = bytes.CutPrefix(rest, eventObjectKey); !found || len(rest) < 2 || rest[len(rest)-1] != '}' {
		return "", nil, false
	}
	obj = bytes.TrimSpace(rest[:len(rest)-1])
	if len(obj) == 0 || obj[0] != '{' || obj[len(obj)-1] != '}' {
		return "", nil, false
	}
	return typ, obj, true
}
