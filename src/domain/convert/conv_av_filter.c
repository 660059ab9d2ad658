/* conv_av_filter.c - the libavfilter graph of one pipe, built from the parameters of the frames
 * the decoder gives: rotation (transpose/flip from the display matrix), frame rate, scaling to
 * the encoder's size and pixel format, the palette pass of animated gifs, and for sound the
 * resampling (libswresample through aresample) to the encoder's format, rate and layout. */
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavutil/channel_layout.h>
#include <libavutil/pixdesc.h>
#include <stdio.h>

#include "domain/convert/conv_av.h"

static int video_chain(const struct av_job *j, const struct av_pipe *p, char *buf, size_t n)
{
    const char *rot = p->rotation == 90    ? "transpose=clock,"
                      : p->rotation == 180 ? "hflip,vflip,"
                      : p->rotation == 270 ? "transpose=cclock,"
                                           : "";
    char fps[64] = "";
    if (p->force_fps)
        snprintf(fps, sizeof fps, "fps=%d/%d,", p->fps.num, p->fps.den);
    int len;
    if (j->t->flags & AVT_GIF)
        len = snprintf(buf, n,
                       "%s%sscale=%d:%d:flags=lanczos,setsar=1,split[s0][s1];"
                       "[s0]palettegen=stats_mode=diff[pal];[s1][pal]paletteuse",
                       rot, fps, p->out_w, p->out_h);
    else
        len = snprintf(buf, n, "%s%sscale=%d:%d,format=pix_fmts=%s,setsar=1", rot, fps, p->out_w,
                       p->out_h, av_get_pix_fmt_name(p->out_fmt));
    return len < 0 || (size_t)len >= n ? AVERROR(EINVAL) : 0;
}

static int audio_chain(const struct av_pipe *p, char *buf, size_t n)
{
    char layout[128];
    if (av_channel_layout_describe(&p->enc->ch_layout, layout, sizeof layout) < 0)
        return AVERROR(EINVAL);
    int len = snprintf(buf, n,
                       "aresample=%d,aformat=sample_fmts=%s:sample_rates=%d:"
                       "channel_layouts=%s",
                       p->enc->sample_rate, av_get_sample_fmt_name(p->enc->sample_fmt),
                       p->enc->sample_rate, layout);
    return len < 0 || (size_t)len >= n ? AVERROR(EINVAL) : 0;
}

int conv_av_build_filter(struct av_job *j, struct av_pipe *p)
{
    char args[512], chain[768];
    AVFilterInOut *outs = NULL, *ins = NULL;
    int ret;
    avfilter_graph_free(&p->graph);
    p->src = p->sink = NULL;
    p->graph = avfilter_graph_alloc();
    outs = avfilter_inout_alloc();
    ins = avfilter_inout_alloc();
    if (!p->graph || !outs || !ins) {
        ret = AVERROR(ENOMEM);
        goto out;
    }
    AVRational tb = p->ist->time_base;
    if (p->type == AVMEDIA_TYPE_VIDEO) {
        AVRational sar = p->in_sar.num > 0 && p->in_sar.den > 0 ? p->in_sar : (AVRational){1, 1};
        snprintf(args, sizeof args,
                 "video_size=%dx%d:pix_fmt=%d:time_base=%d/%d:pixel_aspect=%d/%d", p->in_w, p->in_h,
                 p->in_fmt, tb.num, tb.den, sar.num, sar.den);
        ret = avfilter_graph_create_filter(&p->src, avfilter_get_by_name("buffer"), "in", args,
                                           NULL, p->graph);
        if (ret < 0)
            goto out;
        ret = avfilter_graph_create_filter(&p->sink, avfilter_get_by_name("buffersink"), "out",
                                           NULL, NULL, p->graph);
        if (ret < 0)
            goto out;
        ret = video_chain(j, p, chain, sizeof chain);
    } else {
        char layout[128];
        ret = av_channel_layout_describe(&p->in_layout, layout, sizeof layout);
        if (ret < 0)
            goto out;
        snprintf(args, sizeof args,
                 "time_base=%d/%d:sample_rate=%d:sample_fmt=%s:channel_layout=%s", tb.num, tb.den,
                 p->in_rate, av_get_sample_fmt_name(p->in_fmt), layout);
        ret = avfilter_graph_create_filter(&p->src, avfilter_get_by_name("abuffer"), "in", args,
                                           NULL, p->graph);
        if (ret < 0)
            goto out;
        ret = avfilter_graph_create_filter(&p->sink, avfilter_get_by_name("abuffersink"), "out",
                                           NULL, NULL, p->graph);
        if (ret < 0)
            goto out;
        ret = audio_chain(p, chain, sizeof chain);
    }
    if (ret < 0)
        goto out;
    outs->name = av_strdup("in");
    outs->filter_ctx = p->src;
    ins->name = av_strdup("out");
    ins->filter_ctx = p->sink;
    if (!outs->name || !ins->name) {
        ret = AVERROR(ENOMEM);
        goto out;
    }
    ret = avfilter_graph_parse_ptr(p->graph, chain, &ins, &outs, NULL);
    if (ret < 0)
        goto out;
    ret = avfilter_graph_config(p->graph, NULL);
    if (ret < 0)
        goto out;
    if (p->type == AVMEDIA_TYPE_AUDIO && p->enc->frame_size > 0 &&
        !(p->enc->codec->capabilities & AV_CODEC_CAP_VARIABLE_FRAME_SIZE))
        av_buffersink_set_frame_size(p->sink, (unsigned)p->enc->frame_size);
out:
    avfilter_inout_free(&outs);
    avfilter_inout_free(&ins);
    return ret;
}
