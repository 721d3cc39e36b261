package io.closeloop.flink;

import java.io.IOException;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.HashMap;
import java.util.Map;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;

/**
 * One pass of a streaming JSON parser over an event: the members the checks and the job read.
 *
 * <p>For names {@code n_1 … n_k} the answer has 2k entries: first each member as compact JSON text
 * (a string keeps its quotes, a number its own digits), then each member as text (a string
 * unquoted and unescaped, any other value its JSON text); both NULL where the member is absent or
 * JSON null. The answer is NULL when the event is not one JSON object. Parsed as Python's {@code
 * json} parses: NaN and Infinity are numbers, the last of repeated keys wins.
 */
public final class EventMembers {
    private static final JsonFactory JSON =
            JsonFactory.builder().enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS).build();

    private final String[] names;
    private final Map<String, Integer> index = new HashMap<>();

    public EventMembers(String commaSeparatedNames) {
        names = commaSeparatedNames.split(",");
        for (int i = 0; i < names.length; i++) {
            index.put(names[i], i);
        }
    }

    /** How many members a parse answers (each twice). */
    public int size() {
        return names.length;
    }

    public String[] parse(String body) {
        if (body == null) {
            return null;
        }
        try (JsonParser p = JSON.createParser(body)) {
            return read(p);
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    /**
     * {@link #parse(String)} of an event's UTF-8 bytes, without decoding all of them first: the
     * same answer, byte for byte.
     */
    public String[] parse(byte[] utf8) {
        if (utf8 == null) {
            return null;
        }
        // Jackson guesses a byte source's encoding from its first four bytes (a BOM, or zeros:
        // UTF-16, UTF-32), and reads what is not UTF-8 its own way. Only well-formed UTF-8 that
        // begins as an object, with no zero in those bytes, is surely read as its String is;
        // anything else is decoded first, as it always was (bad bytes replaced).
        if (utf8.length < 4
                || utf8[0] != '{'
                || utf8[1] == 0
                || utf8[2] == 0
                || utf8[3] == 0
                || !wellFormed(utf8)) {
            return parse(new String(utf8, StandardCharsets.UTF_8));
        }
        try (JsonParser p = JSON.createParser(utf8)) {
            return read(p);
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    /** Whether {@code b} is well-formed UTF-8 (Unicode's table 3-7): what Java decodes unchanged. */
    static boolean wellFormed(byte[] b) {
        int i = 0;
        int n = b.length;
        while (i < n) {
            int c = b[i];
            if (c >= 0) {
                i++;
                continue;
            }
            c &= 0xFF;
            int more;
            int low = 0x80;
            int high = 0xBF;
            if (c >= 0xC2 && c <= 0xDF) {
                more = 1;
            } else if (c >= 0xE0 && c <= 0xEF) {
                more = 2;
                if (c == 0xE0) {
                    low = 0xA0; // no overlong forms
                } else if (c == 0xED) {
                    high = 0x9F; // no surrogates
                }
            } else if (c >= 0xF0 && c <= 0xF4) {
                more = 3;
                if (c == 0xF0) {
                    low = 0x90;
                } else if (c == 0xF4) {
                    high = 0x8F; // nothing past U+10FFFF
                }
            } else {
                return false;
            }
            if (i + more >= n) {
                return false; // cut short
            }
            int second = b[i + 1] & 0xFF;
            if (second < low || second > high) {
                return false;
            }
            for (int j = 2; j <= more; j++) {
                if ((b[i + j] & 0xC0) != 0x80) {
                    return false;
                }
            }
            i += more + 1;
        }
        return true;
    }

    private String[] read(JsonParser p) throws IOException {
        int k = names.length;
        String[] out = new String[2 * k];
        if (p.nextToken() != JsonToken.START_OBJECT) {
            return null;
        }
        StringWriter buffer = null;
        JsonGenerator g = null;
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            Integer i = index.get(p.currentName());
            JsonToken value = p.nextToken();
            if (i == null) {
                p.skipChildren(); // still read: a syntax error anywhere breaks the event
                continue;
            }
            if (value == JsonToken.VALUE_NULL) {
                out[i] = null;
                out[k + i] = null;
            } else if (value == JsonToken.VALUE_STRING) {
                String text = p.getText();
                out[k + i] = text;
                out[i] = plain(text) ? '"' + text + '"' : null;
                if (out[i] == null) {
                    if (g == null) {
                        buffer = new StringWriter();
                        g = generator(buffer);
                    }
                    out[i] = write(p, g, buffer);
                }
            } else if (value.isScalarValue()) {
                out[i] = p.getText(); // numbers keep their digits; true, false
                out[k + i] = out[i];
            } else {
                if (g == null) {
                    buffer = new StringWriter();
                    g = generator(buffer);
                }
                out[i] = write(p, g, buffer);
                out[k + i] = out[i];
            }
        }
        // The object has ended; nothing may follow it.
        if (p.currentToken() != JsonToken.END_OBJECT || p.nextToken() != null) {
            return null;
        }
        if (g != null) {
            g.close();
        }
        return out;
    }

    private static JsonGenerator generator(StringWriter buffer) throws IOException {
        JsonGenerator g = JSON.createGenerator(buffer);
        g.setRootValueSeparator(null);
        return g;
    }

    /** The current value, written compactly; the buffer is emptied for the next one. */
    private static String write(JsonParser p, JsonGenerator g, StringWriter buffer) throws IOException {
        copy(p, g);
        g.flush();
        String text = buffer.toString();
        buffer.getBuffer().setLength(0);
        return text;
    }

    private static void copy(JsonParser p, JsonGenerator g) throws IOException {
        switch (p.currentToken()) {
            case START_OBJECT:
                g.writeStartObject();
                while (p.nextToken() == JsonToken.FIELD_NAME) {
                    g.writeFieldName(p.currentName());
                    p.nextToken();
                    copy(p, g);
                }
                g.writeEndObject();
                break;
            case START_ARRAY:
                g.writeStartArray();
                while (p.nextToken() != JsonToken.END_ARRAY) {
                    copy(p, g);
                }
                g.writeEndArray();
                break;
            case VALUE_STRING:
                g.writeString(p.getText());
                break;
            case VALUE_NUMBER_INT:
            case VALUE_NUMBER_FLOAT:
                g.writeNumber(p.getText());
                break;
            case VALUE_TRUE:
                g.writeBoolean(true);
                break;
            case VALUE_FALSE:
                g.writeBoolean(false);
                break;
            case VALUE_NULL:
                g.writeNull();
                break;
            default:
                throw new IOException("unexpected " + p.currentToken());
        }
    }

    /** Whether a string needs no escape in JSON: then its text is its quoted self. */
    private static boolean plain(String text) {
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c < 0x20 || c == '"' || c == '\\') {
                return false;
            }
        }
        return true;
    }

    /** For the twin test: {@code [names, body]} → the answer as a JSON array, or null. */
    static String twin(String[] args) throws IOException {
        return json(new EventMembers(args[0]).parse(args[1]));
    }

    /**
     * For the twin test: {@code [names, base64 of a body's bytes]} → {@code [the bytes' answer,
     * the answer for the bytes decoded]}, which must be the same.
     */
    static String twinUtf8(String[] args) throws IOException {
        EventMembers members = new EventMembers(args[0]);
        byte[] body = Base64.getDecoder().decode(args[1]);
        String fromText = json(members.parse(new String(body, StandardCharsets.UTF_8)));
        return "[" + json(members.parse(body)) + "," + fromText + "]";
    }

    private static String json(String[] out) throws IOException {
        ObjectMapper mapper = new ObjectMapper();
        if (out == null) {
            return "null";
        }
        ArrayNode array = mapper.createArrayNode();
        for (String s : out) {
            array.add(s);
        }
        return mapper.writeValueAsString(array);
    }
}
