namespace Offload.Model.Forward;

/// <summary>The seven linears of a Llama decoder layer, in Hugging Face order.</summary>
public enum LayerLinear
{
    QProj,
    KProj,
    VProj,
    OProj,
    GateProj,
    UpProj,
    DownProj,
}
