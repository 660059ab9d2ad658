/* test_formats.c - the format matrix: kinds, allowed pairs, presets, target lists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "domain/formats.h"
#include "domain/task.h"

static void audio_to_audio_and_archives(void **state)
{
    assert_true(formats_can_convert("wav", "mp3", NULL));
    assert_true(formats_can_convert("flac", "opus", ""));
    assert_true(formats_can_convert("mp3", "tar.zst", NULL));
    assert_false(formats_can_convert("mp3", "png", NULL));
    assert_false(formats_can_convert("mp3", "mp4", NULL));
    assert_false(formats_can_convert("mp3", "gif", NULL));
}

static void video_targets(void **state)
{
    assert_true(formats_can_convert("mp4", "webm", NULL));
    assert_true(formats_can_convert("mkv", "gif", NULL));
    assert_true(formats_can_convert("mov", "mp3", NULL));
    assert_false(formats_can_convert("mp4", "png", NULL));
}

static void same_format_needs_preset(void **state)
{
    assert_false(formats_can_convert("mp4", "mp4", NULL));
    assert_true(formats_can_convert("mp4", "mp4", "small"));
    assert_true(formats_can_convert("png", "png", "high"));
    assert_false(formats_can_convert("zip", "zip", "small"));
    assert_false(formats_can_convert("mp4", "mp4", "tiny"));
}

static void other_files_only_archive(void **state)
{
    const char *t[64];
    size_t n = formats_targets("other", t, 64);
    assert_int_equal(n, 6);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(format_find(t[i])->kind, FMT_ARCHIVE);
    assert_false(formats_can_convert("other", "tar", NULL)); /* read-only format */
}

static void lookups(void **state)
{
    assert_non_null(format_find("MP3"));
    assert_null(format_find("exe"));
    assert_null(format_find(NULL));
    assert_string_equal(format_find("tar.gz")->ext, "tar.gz");
    assert_string_equal(fmt_kind_name(format_find("heic")->kind), "image");
    assert_true(preset_valid(NULL));
    assert_true(preset_valid("balanced"));
    assert_false(preset_valid("ultra"));
}

static void result_names(void **state)
{
    struct task t = {0};
    char out[300];
    snprintf(t.file_name, sizeof t.file_name, "talk.wav");
    snprintf(t.new_format, sizeof t.new_format, "mp3");
    task_result_name(&t, out, sizeof out);
    assert_string_equal(out, "talk.mp3");
    snprintf(t.file_name, sizeof t.file_name, "backup.tar.gz");
    snprintf(t.new_format, sizeof t.new_format, "tar.zst");
    task_result_name(&t, out, sizeof out);
    assert_string_equal(out, "backup.tar.zst");
    snprintf(t.file_name, sizeof t.file_name, "README");
    snprintf(t.new_format, sizeof t.new_format, "zip");
    task_result_name(&t, out, sizeof out);
    assert_string_equal(out, "README.zip");
    snprintf(t.file_name, sizeof t.file_name, ".hidden");
    task_result_name(&t, out, sizeof out);
    assert_string_equal(out, ".hidden.zip");
}

static void status_names(void **state)
{
    for (int s = 0; s < TASK_STATUS_COUNT; s++)
        assert_int_equal(task_status_parse(task_status_name((enum task_status)s)), s);
    assert_int_equal(task_status_parse("bogus"), -1);
    assert_true(task_status_active(TASK_QUEUED));
    assert_false(task_status_active(TASK_PROCESSED));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(audio_to_audio_and_archives),
        cmocka_unit_test(video_targets),
        cmocka_unit_test(same_format_needs_preset),
        cmocka_unit_test(other_files_only_archive),
        cmocka_unit_test(lookups),
        cmocka_unit_test(result_names),
        cmocka_unit_test(status_names),
    };
    return cmocka_run_group_tests_name("formats", tests, NULL, NULL);
}
