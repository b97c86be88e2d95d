package order

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// CheckJSON reports what plain decoding would hide in JSON from a client:
//
//   - a key that appears twice in one object, also spelt in another case:
//     encoding/json matches keys case-insensitively and lets the last one win,
//     where another reader of the same bytes may take the first;
//   - text that is not valid UTF-8 (bytes that are no UTF-8 sequence, or a
//     \u escape of half a surrogate pair): decoding would store U+FFFD in
//     its place.
//
// Each problem names the field by its path, such as items[1].itemId. JSON
// that is not well formed is left to the decoder: CheckJSON then reports
// nothing.
func CheckJSON(b []byte) []*FieldError {
	s := jsonScan{b: b}
	if !s.value("", 0) {
		return nil
	}
	s.space()
	if s.i != len(s.b) {
		return nil
	}
	return s.problems
}

// maxJSONDepth is encoding/json's own bound on nesting.
const maxJSONDepth = 10000

// jsonScan walks JSON bytes once, keeping the problems CheckJSON reports.
type jsonScan struct {
	b        []byte
	i        int
	problems []*FieldError
}

func (s *jsonScan) fail(path, rule string) {
	if path == "" {
		path = "(input)"
	}
	s.problems = append(s.problems, &FieldError{Field: path, Rule: rule})
}

func (s *jsonScan) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// value scans one value at path; false means the JSON is not well formed.
func (s *jsonScan) value(path string, depth int) bool {
	if depth > maxJSONDepth {
		return false
	}
	s.space()
	if s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '{':
		return s.object(path, depth)
	case c == '[':
		return s.array(path, depth)
	case c == '"':
		_, valid, ok := s.text()
		if ok && !valid {
			s.fail(path, "must be valid UTF-8 text")
		}
		return ok
	default:
		start := s.i
		for s.i < len(s.b) && strings.IndexByte("+-.0123456789eEtruefalsn", s.b[s.i]) >= 0 {
			s.i++
		}
		return s.i > start
	}
}

func (s *jsonScan) object(path string, depth int) bool {
	s.i++ // {
	// seen maps a folded key to the key as first sent.
	seen := map[string]string{}
	reported := map[string]bool{}
	s.space()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return true
	}
	for {
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return false
		}
		key, valid, ok := s.text()
		if !ok {
			return false
		}
		field := key
		if path != "" {
			field = path + "." + key
		}
		if !valid {
			s.fail(field, "is a key that is not valid UTF-8 text")
		}
		folded := foldKey(key)
		if first, dup := seen[folded]; dup && !reported[folded] {
			reported[folded] = true
			if first == key {
				s.fail(field, "appears more than once in one object; send each field once")
			} else {
				s.fail(field, fmt.Sprintf("appears more than once in one object (as %s and %s: keys are matched without regard to case); send each field once",
					strconv.Quote(first), strconv.Quote(key)))
			}
		} else if !dup {
			seen[folded] = key
		}
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return false
		}
		s.i++
		if !s.value(field, depth+1) {
			return false
		}
		s.space()
		if s.i >= len(s.b) {
			return false
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case '}':
			s.i++
			return true
		default:
			return false
		}
	}
}

func (s *jsonScan) array(path string, depth int) bool {
	s.i++ // [
	s.space()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		return true
	}
	for n := 0; ; n++ {
		if !s.value(fmt.Sprintf("%s[%d]", path, n), depth+1) {
			return false
		}
		s.space()
		if s.i >= len(s.b) {
			return false
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case ']':
			s.i++
			return true
		default:
			return false
		}
	}
}

// text scans a string and returns it decoded, and whether it is valid UTF-8
// text as sent.
func (s *jsonScan) text() (v string, valid, ok bool) {
	start := s.i
	s.i++ // "
	valid = true
	for {
		if s.i >= len(s.b) {
			return "", false, false
		}
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			if err := json.Unmarshal(s.b[start:s.i], &v); err != nil {
				return "", false, false
			}
			return v, valid, true
		case c == '\\':
			if s.i+1 >= len(s.b) {
				return "", false, false
			}
			if s.b[s.i+1] != 'u' {
				s.i += 2
				continue
			}
			r, ok := s.hex(s.i + 2)
			if !ok {
				return "", false, false
			}
			s.i += 6
			switch {
			case r >= 0xD800 && r < 0xDC00:
				// a high surrogate must be followed by a low one
				low, ok := rune(0), false
				if s.i+1 < len(s.b) && s.b[s.i] == '\\' && s.b[s.i+1] == 'u' {
					low, ok = s.hex(s.i + 2)
				}
				if ok && low >= 0xDC00 && low < 0xE000 {
					s.i += 6
				} else {
					valid = false
				}
			case r >= 0xDC00 && r < 0xE000:
				valid = false
			}
		case c < utf8.RuneSelf:
			s.i++
		default:
			r, size := utf8.DecodeRune(s.b[s.i:])
			if r == utf8.RuneError && size == 1 {
				valid = false
			}
			s.i += size
		}
	}
}

func (s *jsonScan) hex(at int) (rune, bool) {
	if at+4 > len(s.b) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(s.b[at:at+4]), 16, 32)
	return rune(v), err == nil
}

// foldKey is a key as encoding/json matches it: two keys fold alike exactly
// when strings.EqualFold says they are equal.
func foldKey(k string) string {
	var b strings.Builder
	for _, r := range k {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		b.WriteRune(least)
	}
	return b.String()
}
