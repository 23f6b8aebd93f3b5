/*
 * test_charset.c -- charset detection and transcoding (core/charset.c).
 *
 * Each case states the bytes a server sends, the Content-Type it sends them
 * with, and the UTF-8 text and detection source silk must produce.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "charset.h"
#include "check.h"



/* Detects and decodes; checks the charset name, source and text. */
static void expect(const char *what, const char *ctype, const char *body, size_t len,
                   const char *dflt, const char *want_name, silk_charset_source want_src,
                   const char *want_text)
{
    char name[SILK_CHARSET_NAME_MAX];
    size_t bom = 0, outl = 0;
    char *out = NULL;
    silk_charset_source src = silk_charset_detect(ctype, body, len, dflt, name, &bom);
    CHECK(src == want_src, "%s: source %s, want %s", what, silk_charset_source_name(src),
          silk_charset_source_name(want_src));
    CHECK(strcmp(name, want_name) == 0, "%s: charset %s, want %s", what, name, want_name);
    int rc = silk_charset_to_utf8(name, body + bom, len - bom, &out, &outl);
    CHECK(rc == 0, "%s: transcode rc %d", what, rc);
    if (rc == 0) {
        CHECK(outl == strlen(want_text) && memcmp(out, want_text, outl) == 0,
              "%s: text '%.*s', want '%s'", what, (int)outl, out, want_text);
        CHECK(silk_charset_valid_utf8(out, outl), "%s: output not valid UTF-8", what);
        CHECK(out[outl] == 0, "%s: output not NUL-terminated", what);
    }
    free(out);
}

#define S(lit) lit, sizeof(lit) - 1

static void test_header(void)
{
    /* "日本" in Shift_JIS; "中文" in GBK; "Привет" in windows-1251; "Café" in latin-1 */
    expect("shift_jis header", "text/html; charset=Shift_JIS", S("\x93\xfa\x96\x7b"), NULL,
           "CP932", SILK_CHARSET_HEADER, "日本");
    expect("gbk header", "text/html;charset=\"GBK\"", S("\xd6\xd0\xce\xc4"), NULL,
           "GB18030", SILK_CHARSET_HEADER, "中文");
    expect("windows-1251 header", "text/plain; CHARSET = windows-1251",
           S("\xcf\xf0\xe8\xe2\xe5\xf2"), NULL, "WINDOWS-1251", SILK_CHARSET_HEADER, "Привет");
    expect("latin1 header", "text/html; charset=ISO-8859-1", S("Caf\xe9"), NULL,
           "WINDOWS-1252", SILK_CHARSET_HEADER, "Café");
    /* windows-1252 bytes labelled latin-1, as on the real web: a curly quote */
    expect("latin1 as cp1252", "text/html; charset=iso-8859-1", S("\x93hi\x94"), NULL,
           "WINDOWS-1252", SILK_CHARSET_HEADER, "\xe2\x80\x9chi\xe2\x80\x9d");
    /* an unknown label in the header is ignored, the body decides */
    expect("bogus label", "text/html; charset=nonsense-42", S("<meta charset=utf-8>\xc3\xa9"),
           NULL, "UTF-8", SILK_CHARSET_META, "<meta charset=utf-8>é");
    /* an iconv suffix cannot be smuggled in */
    expect("translit label", "text/html; charset=ascii//TRANSLIT", S("abc"), NULL,
           "WINDOWS-1252", SILK_CHARSET_DEFAULT, "abc");
}

static void test_bom(void)
{
    expect("utf-8 bom", "text/html; charset=iso-8859-1", S("\xef\xbb\xbfna\xc3\xafve"), NULL,
           "UTF-8", SILK_CHARSET_BOM, "naïve");
    expect("utf-16le bom", NULL, S("\xff\xfe\x65\x00\xe5\x65"), NULL, "UTF-16LE",
           SILK_CHARSET_BOM, "e日");
    expect("utf-16be bom", "text/html", S("\xfe\xff\x00\x65\x65\xe5"), NULL, "UTF-16BE",
           SILK_CHARSET_BOM, "e日");
}

static void test_meta(void)
{
    expect("meta charset", "text/html", S("<html><head><meta charset=\"windows-1251\">\xcf"),
           NULL, "WINDOWS-1251", SILK_CHARSET_META, "<html><head><meta charset=\"windows-1251\">П");
    expect("http-equiv", NULL,
           S("<META HTTP-EQUIV='Content-Type' CONTENT='text/html; charset=shift_jis'>\x93\xfa"),
           NULL, "CP932", SILK_CHARSET_META,
           "<META HTTP-EQUIV='Content-Type' CONTENT='text/html; charset=shift_jis'>日");
    expect("meta in a comment is skipped", NULL,
           S("<!-- <meta charset=gbk> --><meta charset=utf-8>ok"), NULL, "UTF-8",
           SILK_CHARSET_META, "<!-- <meta charset=gbk> --><meta charset=utf-8>ok");
    expect("meta inside an attribute is skipped", NULL,
           S("<a title='<meta charset=gbk>'>x</a>"), "utf-8", "UTF-8", SILK_CHARSET_DEFAULT,
           "<a title='<meta charset=gbk>'>x</a>");
    expect("meta utf-16 means utf-8", NULL, S("<meta charset=utf-16>ok"), NULL, "UTF-8",
           SILK_CHARSET_META, "<meta charset=utf-16>ok");

    /* a meta after the first 1024 bytes does not count */
    char late[1200];
    memset(late, ' ', sizeof late);
    memcpy(late + 1100, "<meta charset=gbk>", 18);
    char name[SILK_CHARSET_NAME_MAX];
    silk_charset_source src = silk_charset_detect(NULL, late, sizeof late, NULL, name, NULL);
    CHECK(src == SILK_CHARSET_DEFAULT && strcmp(name, "WINDOWS-1252") == 0,
          "late meta: %s %s", silk_charset_source_name(src), name);
}

static void test_sniff_and_default(void)
{
    expect("undeclared utf-8", "text/html", S("na\xc3\xafve"), NULL, "UTF-8",
           SILK_CHARSET_SNIFF, "naïve");
    expect("undeclared latin1", "text/html", S("na\xefve"), NULL, "WINDOWS-1252",
           SILK_CHARSET_DEFAULT, "naïve");
    expect("caller default", NULL, S("\xcf\xf0"), "cp1251", "WINDOWS-1251",
           SILK_CHARSET_DEFAULT, "Пр");
}

static void test_invalid(void)
{
    /* invalid UTF-8 claimed as UTF-8: each maximal invalid subpart -> U+FFFD */
    expect("stray continuation", "text/html; charset=utf-8", S("a\x80z"), NULL, "UTF-8",
           SILK_CHARSET_HEADER, "a\xef\xbf\xbdz");
    expect("truncated sequence", "text/html; charset=utf-8", S("a\xe6\x97z"), NULL, "UTF-8",
           SILK_CHARSET_HEADER, "a\xef\xbf\xbdz");
    expect("overlong", "text/html; charset=utf-8", S("\xc0\xafx"), NULL, "UTF-8",
           SILK_CHARSET_HEADER, "\xef\xbf\xbd\xef\xbf\xbdx");
    expect("surrogate", "text/html; charset=utf-8", S("\xed\xa0\x80!"), NULL, "UTF-8",
           SILK_CHARSET_HEADER, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd!");
    expect("cut at end", "text/html; charset=utf-8", S("ok\xf0\x9f\x98"), NULL, "UTF-8",
           SILK_CHARSET_HEADER, "ok\xef\xbf\xbd");
    expect("above U+10FFFF", "text/html; charset=utf-8", S("\xf4\x90\x80\x80."), NULL, "UTF-8",
           SILK_CHARSET_HEADER, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd.");
    /* invalid Shift_JIS: a lead byte then an ASCII byte keeps the ASCII byte */
    expect("bad shift_jis", "text/html; charset=shift_jis", S("\x93 \x93\xfa"), NULL, "CP932",
           SILK_CHARSET_HEADER, "\xef\xbf\xbd 日");
    expect("cut shift_jis", "text/html; charset=shift_jis", S("A\x93"), NULL, "CP932",
           SILK_CHARSET_HEADER, "A\xef\xbf\xbd");
    /* a lone UTF-16 surrogate */
    expect("bad utf-16", NULL, S("\xff\xfe\x00\xd8\x41\x00"), NULL, "UTF-16LE", SILK_CHARSET_BOM,
           "\xef\xbf\xbd" "A");
}

static void test_canonical(void)
{
    char buf[SILK_CHARSET_NAME_MAX];
    CHECK(silk_charset_canonical(S(" \"UTF8\" "), buf) && !strcmp(buf, "UTF-8"), "utf8: %s", buf);
    CHECK(silk_charset_canonical(S("koi8-r"), buf) && !strcmp(buf, "KOI8-R"), "koi8-r: %s", buf);
    CHECK(!silk_charset_canonical(S("no-such-charset"), buf), "unknown label accepted");
    CHECK(!silk_charset_canonical(S(""), buf), "empty label accepted");
    CHECK(!silk_charset_canonical(S("utf-8 x"), buf), "label with a space accepted");
    CHECK(silk_charset_valid_utf8(S("")), "empty is valid");
    CHECK(!silk_charset_valid_utf8(S("\xff")), "0xff is valid");
    /* ASCII is skipped 8 bytes at a time: bad and good bytes on either side
     * of a word, and a sequence cut by the end */
    CHECK(!silk_charset_valid_utf8(S("abcdefgh\xff")), "0xff after a word is valid");
    CHECK(!silk_charset_valid_utf8(S("abcdefg\xffijklmnop")), "0xff inside a word is valid");
    CHECK(!silk_charset_valid_utf8(S("abcdefghijklmn\xc3")), "a cut sequence is valid");
    CHECK(silk_charset_valid_utf8(S("abcdefg\xc3\xa9ijklmnop\xe2\x82\xacq")), "mixed text is invalid");

    /* the empty body */
    char *out = NULL;
    size_t outl = 1;
    CHECK(silk_charset_to_utf8("UTF-8", "", 0, &out, &outl) == 0 && outl == 0 && out && !out[0],
          "empty body");
    free(out);
    CHECK(silk_charset_to_utf8("NO-SUCH", "x", 1, &out, &outl) == SILK_CHARSET_EUNKNOWN && !out,
          "unknown charset");
}

static void test_large(void)
{
    /* 1 MB of windows-1251 grows to 2 MB of UTF-8: the buffer must grow */
    size_t n = 1 << 20;
    char *in = malloc(n), *out = NULL;
    size_t outl = 0;
    memset(in, '\xe9', n);                       /* "й" */
    CHECK(silk_charset_to_utf8("WINDOWS-1251", in, n, &out, &outl) == 0 && outl == 2 * n,
          "large: %zu bytes", outl);
    CHECK(out && memcmp(out + outl - 2, "й", 2) == 0, "large: tail");
    free(out);
    free(in);
}

int main(void)
{
    test_header();
    test_bom();
    test_meta();
    test_sniff_and_default();
    test_invalid();
    test_canonical();
    test_large();
    return check_done("test_charset");
}
