import { Resvg } from '@resvg/resvg-js';

/** The plot as PNG for papers and chat, rendered server-side at 2x with the system's fonts. */
export function svgToPng(svg: string): Buffer {
  return new Resvg(svg, {
    fitTo: { mode: 'zoom', value: 2 },
    background: '#ffffff',
    font: { loadSystemFonts: true, sansSerifFamily: 'DejaVu Sans', defaultFontFamily: 'DejaVu Sans' },
  })
    .render()
    .asPng();
}
