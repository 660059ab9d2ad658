/* conv_av_enc.c - what each target is written as (muxer, encoders, default rates), the
 * quality presets, and opening the encoders: picture size, pixel format, frame rate, sample
 * format, sample rate and channel layout chosen from what each encoder accepts. */
#include <libavutil/channel_layout.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "domain/convert/conv_av.h"

static const struct av_target targets[] = {
    /* name    muxer       video           audio         abitrate vq maxrate maxch flags */
    {"mp3", "mp3", NULL, "libmp3lame", 192000, 0, 48000, 2, 0},
    {"wav", "wav", NULL, "pcm_s16le", 0, 0, 0, 8, 0},
    {"ogg", "ogg", NULL, "libvorbis", 0, 5, 0, 8, 0},
    {"opus", "opus", NULL, "libopus", 128000, 0, 48000, 2, 0},
    {"aac", "adts", NULL, "aac", 160000, 0, 0, 8, 0},
    {"m4a", "ipod", NULL, "aac", 160000, 0, 0, 8, AVT_FASTSTART},
    {"flac", "flac", NULL, "flac", 0, 0, 0, 8, 0},
    {"wma", "asf", NULL, "wmav2", 128000, 0, 48000, 2, 0},
    {"aiff", "aiff", NULL, "pcm_s16be", 0, 0, 0, 8, 0},
    {"mp4", "mp4", "libx264", "aac", 0, 0, 0, 8, AVT_FASTSTART},
    {"webm", "webm", "libvpx-vp9", "libopus", 0, 0, 48000, 2, 0},
    {"avi", "avi", "mpeg4", "libmp3lame", 0, 0, 48000, 2, 0},
    {"mpeg", "mpeg", "mpeg2video", "mp2", 0, 0, 48000, 2, AVT_STD_FPS},
    {"wmv", "asf", "wmv2", "wmav2", 0, 0, 48000, 2, 0},
    {"mkv", "matroska", "libx264", "aac", 0, 0, 0, 8, 0},
    {"mov", "mov", "libx264", "aac", 0, 0, 0, 8, AVT_FASTSTART},
    {"gif", "gif", "gif", NULL, 0, 0, 0, 0, AVT_GIF},
};

static const struct av_quality qualities[] = {
    /* name        x264 vp9 q  audio   in-video box */
    {"", 23, 32, 4, 0, 128000, 0, 0},
    {"small", 30, 40, 10, 96000, 96000, 854, 480},
    {"balanced", 26, 34, 6, 128000, 128000, 1280, 720},
    {"high", 21, 28, 3, 192000, 192000, 0, 0},
};

const struct av_target *conv_av_target(const char *name)
{
    for (size_t i = 0; name && i < sizeof targets / sizeof targets[0]; i++)
        if (strcasecmp(targets[i].name, name) == 0)
            return &targets[i];
    return NULL;
}

const struct av_quality *conv_av_quality(const char *preset)
{
    for (size_t i = 1; preset && i < sizeof qualities / sizeof qualities[0]; i++)
        if (strcasecmp(qualities[i].name, preset) == 0)
            return &qualities[i];
    return &qualities[0];
}

/* Nearest even size, at least 2 (4:2:0 needs even sizes). */
static int even_near(double v)
{
    int e = (int)(v / 2 + 0.5) * 2;
    return e < 2 ? 2 : e;
}

/* Frame rate for the output: the source's when sane, else 25; mpeg only takes standard ones. */
static void choose_fps(struct av_job *j, struct av_pipe *p)
{
    AVRational fr = av_guess_frame_rate(j->ic, p->ist, NULL);
    double f = fr.num > 0 && fr.den > 0 ? av_q2d(fr) : 0;
    p->force_fps = 0;
    if (j->t->flags & AVT_GIF) {
        p->fps = (AVRational){10, 1};
        p->force_fps = 1;
        return;
    }
    if (f < 1 || f > 120 || fr.den > 1001 || fr.num > 120000) {
        p->fps = (AVRational){25, 1};
        p->force_fps = 1;
    } else {
        p->fps = fr;
    }
    if (j->t->flags & AVT_STD_FPS) {
        static const AVRational std[] = {{24000, 1001}, {24, 1}, {25, 1},       {30000, 1001},
                                         {30, 1},       {50, 1}, {60000, 1001}, {60, 1}};
        for (size_t i = 0; i < sizeof std / sizeof std[0]; i++)
            if (av_cmp_q(std[i], p->fps) == 0)
                return;
        f = av_q2d(p->fps);
        p->fps = f < 27.5 ? (AVRational){25, 1}
                 : f < 40 ? (AVRational){30, 1}
                 : f < 55 ? (AVRational){50, 1}
                          : (AVRational){60, 1};
        p->force_fps = 1;
    }
}

static enum AVPixelFormat choose_pix_fmt(const AVCodec *c, enum AVPixelFormat src, int gif)
{
    if (gif)
        return AV_PIX_FMT_PAL8;
    if (!c->pix_fmts)
        return src;
    if (c->id == AV_CODEC_ID_H264 || c->id == AV_CODEC_ID_VP9)
        return AV_PIX_FMT_YUV420P; /* what every player decodes */
    for (const enum AVPixelFormat *f = c->pix_fmts; *f != AV_PIX_FMT_NONE; f++)
        if (*f == src)
            return src;
    return avcodec_find_best_pix_fmt_of_list(c->pix_fmts, src, 0, NULL);
}

int conv_av_open_video_encoder(struct av_job *j, struct av_pipe *p)
{
    const AVCodec *codec = avcodec_find_encoder_by_name(j->t->vcodec);
    AVDictionary *opts = NULL;
    int gif = (j->t->flags & AVT_GIF) != 0, ret;
    char num[32];
    if (!codec)
        return AVERROR_ENCODER_NOT_FOUND;
    p->enc = avcodec_alloc_context3(codec);
    if (!p->enc)
        return AVERROR(ENOMEM);
    AVCodecContext *e = p->enc;

    /* Size after rotation, fitted into the preset's box (turned for portrait pictures). */
    int w = p->dec->width, h = p->dec->height;
    if (p->rotation == 90 || p->rotation == 270) {
        int t = w;
        w = h;
        h = t;
    }
    AVRational sar = p->dec->sample_aspect_ratio;
    if (sar.num <= 0 || sar.den <= 0 || av_q2d(sar) > 10 || av_q2d(sar) < 0.1)
        sar = (AVRational){1, 1}; /* absent or absurd: square pixels */
    if (p->rotation == 90 || p->rotation == 270)
        sar = (AVRational){sar.den, sar.num};
    /* display width: square pixels out, so a non-square source is stretched to its shape */
    double dw = (double)w * sar.num / sar.den, dh = h;
    int bw = j->q->max_w, bh = j->q->max_h;
    if (gif) {
        bw = 480;
        bh = 0;
    }
    if (bw > 0 && dh > dw && !gif) {
        int t = bw;
        bw = bh;
        bh = t;
    }
    double scale = 1.0;
    if (bw > 0 && dw > bw)
        scale = bw / dw;
    if (bh > 0 && dh * scale > bh)
        scale = bh / dh;
    p->out_fmt = choose_pix_fmt(codec, p->dec->pix_fmt, gif);
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(p->out_fmt);
    int ow, oh;
    if (!gif && (!d || d->log2_chroma_w || d->log2_chroma_h || codec->id == AV_CODEC_ID_H264)) {
        ow = even_near(dw * scale); /* the box is even, so this never leaves it */
        oh = even_near(dh * scale);
        /* an odd source with no scaling rounds down, never up */
        if (scale == 1.0 && ow > (int)dw && ow > 2)
            ow -= 2;
        if (scale == 1.0 && oh > (int)dh && oh > 2)
            oh -= 2;
    } else {
        ow = (int)(dw * scale + 0.5);
        oh = (int)(dh * scale + 0.5);
        ow = ow < 1 ? 1 : ow;
        oh = oh < 1 ? 1 : oh;
    }
    p->out_w = ow;
    p->out_h = oh;
    choose_fps(j, p);

    e->width = ow;
    e->height = oh;
    e->pix_fmt = p->out_fmt;
    e->sample_aspect_ratio = (AVRational){1, 1};
    e->framerate = p->fps;
    e->time_base = av_inv_q(p->fps);
    e->thread_count = 0; /* auto, like the ffmpeg tool */
    if (j->oc->oformat->flags & AVFMT_GLOBALHEADER)
        e->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    switch (codec->id) {
    case AV_CODEC_ID_H264:
        av_dict_set(&opts, "preset", "veryfast", 0);
        snprintf(num, sizeof num, "%d", j->q->x264_crf);
        av_dict_set(&opts, "crf", num, 0);
        break;
    case AV_CODEC_ID_VP9:
        snprintf(num, sizeof num, "%d", j->q->vp9_crf);
        av_dict_set(&opts, "crf", num, 0);
        av_dict_set(&opts, "b", "0", 0);
        av_dict_set(&opts, "deadline", "realtime", 0);
        av_dict_set(&opts, "cpu-used", "8", 0);
        av_dict_set(&opts, "row-mt", "1", 0);
        break;
    case AV_CODEC_ID_MPEG4:
    case AV_CODEC_ID_MPEG2VIDEO:
    case AV_CODEC_ID_WMV2:
        e->flags |= AV_CODEC_FLAG_QSCALE;
        e->global_quality = FF_QP2LAMBDA * j->q->qscale;
        break;
    default: break;
    }
    ret = avcodec_open2(e, codec, &opts);
    av_dict_free(&opts);
    return ret;
}

static int layout_in_list(const AVChannelLayout *list, const AVChannelLayout *l)
{
    for (; list && list->nb_channels; list++)
        if (av_channel_layout_compare(list, l) == 0)
            return 1;
    return 0;
}

static enum AVSampleFormat choose_sample_fmt(const AVCodec *c, enum AVSampleFormat src)
{
    if (!c->sample_fmts)
        return src;
    for (const enum AVSampleFormat *f = c->sample_fmts; *f != AV_SAMPLE_FMT_NONE; f++)
        if (*f == src)
            return src;
    /* same sample type, other packing (s16 vs s16p) */
    for (const enum AVSampleFormat *f = c->sample_fmts; *f != AV_SAMPLE_FMT_NONE; f++)
        if (av_get_packed_sample_fmt(*f) == av_get_packed_sample_fmt(src))
            return *f;
    return c->sample_fmts[0];
}

static int choose_rate(const AVCodec *c, int src, int max_rate)
{
    int rate = src > 0 ? src : 44100;
    if (max_rate > 0 && rate > max_rate)
        rate = max_rate;
    if (!c->supported_samplerates)
        return rate;
    int best_above = 0, best = 0;
    for (const int *r = c->supported_samplerates; *r; r++) {
        if (*r == rate)
            return rate;
        if (*r > rate && (!best_above || *r < best_above))
            best_above = *r;
        if (*r > best)
            best = *r;
    }
    return best_above ? best_above : best;
}

int conv_av_open_audio_encoder(struct av_job *j, struct av_pipe *p)
{
    const AVCodec *codec = avcodec_find_encoder_by_name(j->t->acodec);
    AVDictionary *opts = NULL;
    AVChannelLayout src = {0}, want = {0};
    int ret;
    if (!codec)
        return AVERROR_ENCODER_NOT_FOUND;
    p->enc = avcodec_alloc_context3(codec);
    if (!p->enc)
        return AVERROR(ENOMEM);
    AVCodecContext *e = p->enc;

    ret = 0;
    if (p->dec->ch_layout.order == AV_CHANNEL_ORDER_NATIVE)
        ret = av_channel_layout_copy(&src, &p->dec->ch_layout);
    else
        av_channel_layout_default(
            &src, p->dec->ch_layout.nb_channels > 0 ? p->dec->ch_layout.nb_channels : 2);
    if (ret < 0)
        goto out;
    int maxch = j->t->max_channels > 0 ? j->t->max_channels : 2;
    if (codec->ch_layouts ? !layout_in_list(codec->ch_layouts, &src) : src.nb_channels > maxch)
        av_channel_layout_default(&want, src.nb_channels >= 2 ? 2 : 1);
    else if (src.nb_channels > maxch)
        av_channel_layout_default(&want, 2);
    else
        ret = av_channel_layout_copy(&want, &src);
    if (ret < 0)
        goto out;
    ret = av_channel_layout_copy(&e->ch_layout, &want);
    if (ret < 0)
        goto out;
    e->sample_rate = choose_rate(codec, p->dec->sample_rate, j->t->max_rate);
    e->sample_fmt = choose_sample_fmt(codec, p->dec->sample_fmt);
    e->time_base = (AVRational){1, e->sample_rate};
    e->thread_count = 0;
    if (j->oc->oformat->flags & AVFMT_GLOBALHEADER)
        e->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    int lossless = codec->id == AV_CODEC_ID_FLAC || codec->id == AV_CODEC_ID_PCM_S16LE ||
                   codec->id == AV_CODEC_ID_PCM_S16BE;
    if (!lossless) {
        int64_t br = j->t->vcodec     ? j->q->video_abitrate
                     : j->q->abitrate ? j->q->abitrate
                                      : j->t->abitrate;
        if (br > 0)
            e->bit_rate = br;
        else if (j->t->vorbis_q > 0) {
            e->flags |= AV_CODEC_FLAG_QSCALE;
            e->global_quality = FF_QP2LAMBDA * j->t->vorbis_q;
        }
    }
    ret = avcodec_open2(e, codec, &opts);
out:
    av_dict_free(&opts);
    av_channel_layout_uninit(&src);
    av_channel_layout_uninit(&want);
    return ret;
}
