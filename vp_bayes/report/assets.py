"""The page's style sheet and script, inlined once into ``index.html`` (works offline).

The script is plain JavaScript (no library, about 4 kB): sortable tables (click a header),
a filter box and a persona toggle for the leaderboard, value pickers, the highlight of one
respondent across the population panels and rankings, and the P(a > b) matrix drawn from the
JSON the page carries. Figures are inline SVG and need no script to show.
"""

from __future__ import annotations

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1200px;margin:24px auto;
padding:0 20px;color:#222;line-height:1.45}
h1{font-size:1.7em;margin-bottom:.2em}h2{border-bottom:2px solid #ddd;padding-bottom:4px;
margin-top:2em}h3{margin-bottom:.3em}
nav{position:sticky;top:0;background:#fff;padding:6px 0;border-bottom:1px solid #eee;z-index:2}
nav a{margin-right:14px;white-space:nowrap}
.meta{color:#555;font-size:.92em}
.figs{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}
.figs figure{flex:1 1 0;min-width:440px}
figure{margin:0}figure img{max-width:100%;border:1px solid #eee}.figs figure img{width:100%}
figcaption{font-size:.85em;color:#555}
table{border-collapse:collapse;font-size:.85em;margin:8px 0}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:right}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
table.facts th{text-align:left;white-space:nowrap;vertical-align:top}
table.facts td{text-align:left}
table.sortable th{cursor:pointer;user-select:none}
table.sortable th[data-dir=asc]::after{content:' \\25B2'}
table.sortable th[data-dir=desc]::after{content:' \\25BC'}
table.heat td{min-width:50px;text-align:center;line-height:1.15;padding:2px 4px}
table.heat th{padding:2px 4px}
table.heat td small{display:block;font-size:.76em;opacity:.85;white-space:nowrap}
table.heat td.name{text-align:left;white-space:nowrap}
table.heat tbody tr:hover td{outline:1px solid #444}
table.hide-personas tr.persona{display:none}
.scroll{overflow-x:auto;max-width:100%}
.warn,.alert{background:#fff4e5;border-left:4px solid #e08214;padding:6px 12px;margin:6px 0}
.alert ul{margin:4px 0}
.ok,.good{background:#edf7ed;border-left:4px solid #1b7837;padding:6px 12px;margin:6px 0}
.missing{color:#777;font-style:italic}
details{margin:8px 0}summary{cursor:pointer;color:#2166ac}
.controls{margin:6px 0 10px;display:flex;gap:14px;align-items:center;flex-wrap:wrap}
.controls input[type=search]{width:260px;padding:3px 6px}
.panels{display:grid;grid-template-columns:repeat(auto-fill,minmax(550px,1fr));gap:6px 12px}
svg{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;font-size:12px;overflow:visible}
svg .title{font-size:13px;font-weight:600}
svg .tick{font-size:11px;fill:#444}svg .xlabel{fill:#444}
svg .rtitle{fill:#666;font-style:italic}
svg .axis{stroke:#888}svg .grid{stroke:#eee}svg .ref{stroke:#888;stroke-dasharray:4 3}
svg .ci{stroke:#2166ac;stroke-width:2.5}svg .pt{fill:#2166ac}
svg .hit{fill:transparent}svg .row:hover .hit{fill:#f2f6fb}
svg .right{fill:#444;font-variant-numeric:tabular-nums;white-space:pre}
svg .misfit .label{fill:#a04d00}
svg .high .ci{stroke:#1b7837}svg .high .pt{fill:#1b7837}
svg .low .ci{stroke:#b2182b}svg .low .pt{fill:#b2182b}
svg .narrow .ci{stroke:#762a83}svg .narrow .pt{fill:#762a83}
svg .wide .ci{stroke:#e08214}svg .wide .pt{fill:#e08214}
svg .credible .ci{stroke:#b2182b}svg .credible .pt{fill:#b2182b}
svg .credible .label{font-weight:700}
svg.population .human{fill:#d9d9d9}svg.population .hq{stroke:#999;stroke-dasharray:2 2}
svg.population .ci{stroke:#6a8fbf;stroke-width:1.6}svg.population .pt{fill:#2166ac}
svg.population .prow:hover .ci,svg .hl .ci{stroke:#d6604d;stroke-width:3}
svg.population .prow:hover .pt,svg .hl .pt{fill:#b2182b}
svg .hl .label{font-weight:700;fill:#b2182b}
svg .hlab{font-size:11px;fill:#b2182b}
svg.radar .band{fill:#c6dbef;stroke:none}svg.radar .inner{fill:#fff;stroke:none}
svg.radar .mean{fill:none;stroke:#2166ac;stroke-width:2}
#pairs-matrix table{font-size:.78em}
#pairs-matrix td{min-width:24px;text-align:center;font-variant-numeric:tabular-nums;padding:2px 2px}
#pairs-matrix th{padding:2px 3px}
#pairs-matrix td.strong{font-weight:700}
#pairs-matrix th{font-weight:normal;white-space:nowrap}
"""

JS = r"""
(function(){
'use strict';
function esc(s){return String(s).replace(/[&<>"']/g,function(c){
  return '&#'+c.charCodeAt(0)+';';});}
function key(td){var s=td.getAttribute('data-s');if(s===null)return td.textContent.trim();
  var v=parseFloat(s);return isNaN(v)?s:v;}
function sortable(t){
  var ths=t.tHead?t.tHead.rows[0].cells:[];
  Array.prototype.forEach.call(ths,function(th,i){
    th.addEventListener('click',function(){
      var asc=th.getAttribute('data-dir')!=='asc';
      Array.prototype.forEach.call(ths,function(h){h.removeAttribute('data-dir');});
      th.setAttribute('data-dir',asc?'asc':'desc');
      var tb=t.tBodies[0],rows=Array.prototype.slice.call(tb.rows);
      rows.sort(function(a,b){var x=key(a.cells[i]),y=key(b.cells[i]);
        if(typeof x==='number'&&typeof y==='number')return asc?x-y:y-x;
        return asc?String(x).localeCompare(String(y)):String(y).localeCompare(String(x));});
      rows.forEach(function(r){tb.appendChild(r);});
    });
  });
}
document.querySelectorAll('table.sortable').forEach(sortable);
document.querySelectorAll('input.filter').forEach(function(inp){
  var t=document.getElementById(inp.getAttribute('data-target'));
  inp.addEventListener('input',function(){
    var q=inp.value.toLowerCase();
    Array.prototype.forEach.call(t.tBodies[0].rows,function(r){
      r.hidden=q!==''&&r.cells[0].textContent.toLowerCase().indexOf(q)<0;});
  });
});
document.querySelectorAll('table.heat').forEach(function(t){
  var heads=t.tHead.rows[0].cells;
  t.addEventListener('mouseover',function(ev){
    var td=ev.target.closest('td');if(!td||td.title||!td.hasAttribute('data-s'))return;
    var tr=td.parentNode,i=Array.prototype.indexOf.call(tr.cells,td);
    var s=tr.cells[0].textContent+' - '+heads[i].textContent+': '+td.firstChild.textContent+
      ' ['+td.querySelector('small').textContent+']';
    if(td.hasAttribute('data-p'))s+='; above '+td.getAttribute('data-p')+'% of participants';
    if(td.hasAttribute('data-k'))s+='; rank '+td.getAttribute('data-k');
    td.title=s;});
});
document.querySelectorAll('input.show-personas').forEach(function(cb){
  cb.addEventListener('change',function(){
    document.getElementById('leaderboard-table').classList.toggle('hide-personas',!cb.checked);});
});
document.querySelectorAll('select.pick').forEach(function(s){
  var g=s.getAttribute('data-group');if(!g)return;
  s.addEventListener('change',function(){
    document.querySelectorAll(g).forEach(function(el){el.hidden=el.getAttribute('data-v')!==s.value;});});
});
var hl=document.getElementById('highlight');
if(hl)hl.addEventListener('change',function(){
  var r=hl.value;
  document.querySelectorAll('[data-r]').forEach(function(g){
    g.classList.toggle('hl',r!==''&&g.getAttribute('data-r')===r);});
  document.querySelectorAll('svg.population').forEach(function(svg){
    var g=svg.querySelector('g.hl');
    svg.querySelector('.hlab').textContent=g?g.getAttribute('data-tip'):'';});
});
var data=document.getElementById('pairs-data');
if(data){
  var P=JSON.parse(data.textContent),box=document.getElementById('pairs-matrix'),
      pv=document.getElementById('pairs-value'),pf=document.getElementById('pairs-filter');
  var colour=function(p){var t=Math.abs(p-0.5)*2,c=Math.round(255-t*150);
    return p>=0.5?'rgb('+c+','+Math.round(255-t*95)+',255)':'rgb(255,'+c+','+c+')';};
  var draw=function(){
    var V=P.values[pv.value],n=P.names.length,m={},d={},i,j;
    for(i=0;i<V.a.length;i++){var a=V.a[i],b=V.b[i],q=V.p[i],x=V.d[i];
      m[a+','+b]=q;m[b+','+a]=1-q;d[a+','+b]=x;d[b+','+a]=[-x[0],-x[2],-x[1]];}
    var words=pf.value.toLowerCase().split(',').map(function(w){return w.trim();})
      .filter(function(w){return w;});
    var rows=V.order.filter(function(k){return !words.length||words.some(function(w){
      return P.names[k].toLowerCase().indexOf(w)>=0;});});
    var h='<table><thead><tr><th>P(row &gt; column)</th>';
    rows.forEach(function(k,c){h+='<th title="'+esc(P.names[k])+'">'+(c+1)+'</th>';});
    h+='</tr></thead><tbody>';
    rows.forEach(function(r,ri){h+='<tr><th>'+(ri+1)+' '+esc(P.labels[r])+'</th>';
      rows.forEach(function(c){
        if(r===c){h+='<td>&middot;</td>';return;}
        var q=m[r+','+c],x=d[r+','+c],s=(q>=P.mass||q<=1-P.mass)?' class="strong"':'';
        h+='<td'+s+' style="background:'+colour(q)+'" title="P('+esc(P.names[r])+' &gt; '+
          esc(P.names[c])+') = '+q.toFixed(3)+'; difference '+x[0].toFixed(2)+' ['+
          x[1].toFixed(2)+', '+x[2].toFixed(2)+']">'+q.toFixed(2).replace(/^0/,'')+'</td>';});
      h+='</tr>';});
    box.innerHTML=h+'</tbody></table>';
  };
  pv.addEventListener('change',draw);pf.addEventListener('input',draw);draw();
}
})();
"""
